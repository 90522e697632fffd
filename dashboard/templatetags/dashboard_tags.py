import json

from django import template
from django.utils.html import conditional_escape, format_html

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Audit details as compact JSON (autoescaped by the template), not a Python repr."""
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


@register.filter
def breakable_email(value) -> str:
    """An email that may wrap after its "@" and nowhere else (not at the hyphen of a domain), so a
    long actor or target takes two readable lines instead of pushing the audit table off screen."""
    text = str(value or "")
    local, at, domain = text.partition("@")
    if not at:
        return conditional_escape(text)
    return format_html('<span class="nowrap">{}@</span><wbr><span class="nowrap">{}</span>', local, domain)
