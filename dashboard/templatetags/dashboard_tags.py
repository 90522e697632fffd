import json

from django import template

register = template.Library()


@register.filter
def as_json(value) -> str:
    """Audit details as compact JSON (autoescaped by the template), not a Python repr."""
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
