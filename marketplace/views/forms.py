"""Forms of the vendor portal and the subscribe flow. Validation here is about shapes (a slug, a
number); every business rule stays in the services, whose errors are shown on these forms."""

from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django_countries import countries

from marketplace.models import License, LicenseAcceptance, Model, Plan

SPDX_COMMON = ["Apache-2.0", "MIT", "BSD-3-Clause", "BSD-2-Clause", "CC-BY-4.0", "CC-BY-SA-4.0",
               "CC-BY-NC-4.0", "GPL-3.0-only", "LGPL-3.0-only", "MPL-2.0", "OpenRAIL-M", "Llama-3-Community"]


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.replace(";", ",").split(",") if c.strip()]


class ModelForm(forms.Form):
    name = forms.CharField(max_length=150)
    slug = forms.SlugField(max_length=60, help_text="Part of the API name vendor.slug; lowercase letters, digits, -")
    task = forms.CharField(max_length=60, required=False, help_text="e.g. text-classification, regression")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False,
                                  help_text="Markdown: **bold**, lists, `code`, links. HTML is removed.")
    tags = forms.CharField(max_length=400, required=False, help_text="Comma-separated, e.g. nlp, english")
    visibility = forms.ChoiceField(choices=Model.Visibility.choices, initial=Model.Visibility.PRIVATE,
                                   help_text="Publishing makes a model public.")

    def clean_tags(self) -> list[str]:
        return _codes(self.cleaned_data["tags"])[:20]


class LicenseForm(forms.Form):
    kind = forms.ChoiceField(choices=[("spdx", "An open license (SPDX)"), ("custom", "My own EULA")],
                             widget=forms.RadioSelect, initial="spdx", label="License type")
    identifier = forms.CharField(max_length=80, label="SPDX id or EULA name",
                                 widget=forms.TextInput(attrs={"list": "spdx-ids"}),
                                 help_text="e.g. Apache-2.0, or a name for your EULA")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, label="Full text",
                           help_text="Required for a custom EULA; buyers read it before accepting.")
    commercial_use = forms.BooleanField(required=False, label="Commercial use allowed")
    weight_download = forms.BooleanField(required=False, label="Buyers may download the weights")
    attribution_required = forms.BooleanField(required=False, label="Attribution required")
    territory_mode = forms.ChoiceField(choices=License.TerritoryMode.choices, label="Territory")
    territories = forms.CharField(required=False, max_length=600, label="Countries",
                                  help_text="ISO codes, comma-separated (for 'allow' or 'deny'), e.g. DE, FR")
    max_monthly_calls = forms.IntegerField(required=False, min_value=1, label="Monthly call limit per buyer")
    expires_at = forms.DateTimeField(required=False, label="Expires",
                                     widget=forms.DateInput(attrs={"type": "date"}))

    def clean_territories(self) -> list[str]:
        return _codes(self.cleaned_data["territories"])


def _minor(value: Decimal | None) -> int:
    """Major units typed by a person -> minor units (cents) as the services take them."""
    return int(((value or Decimal(0)) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _minor_per_million(value: Decimal | None) -> Decimal:
    """A per-million token price in major units (0.075) -> minor units with four decimals (7.5000)."""
    return ((value or Decimal(0)) * 100).quantize(Decimal("0.0001"))


class PlanForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What buyers see, e.g. Starter")
    kind = forms.ChoiceField(choices=[("free", "Free tier"), ("payg", "Pay as you go"),
                                      ("subscription", "Subscription")], label="Plan type")
    currency = forms.ChoiceField(choices=[(c, c.upper()) for c in ("usd", "eur", "gbp", "chf")], initial="usd")
    unit = forms.ChoiceField(choices=Plan.Unit.choices, initial=Plan.Unit.CALL, label="Charged per")
    unit_price = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Price per unit",
                                    help_text="Pay as you go, in the currency (0.02 = 2 cents)")
    monthly_fee = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Monthly fee",
                                     help_text="Subscription")
    included_calls = forms.IntegerField(required=False, min_value=0, label="Included calls a month",
                                        help_text="Free tier and subscription")
    overage_price = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Price per extra unit",
                                       help_text="Subscription, after the included calls")
    # Six decimals in major units are the four of minor units the plan stores ($0.000075 = 0.0075 cents).
    input_price = forms.DecimalField(required=False, min_value=0, decimal_places=6, max_digits=12,
                                     label="Input price per 1M tokens",
                                     help_text="Charged per million tokens: price of a million prompt tokens, "
                                               "e.g. 0.50")
    output_price = forms.DecimalField(required=False, min_value=0, decimal_places=6, max_digits=12,
                                      label="Output price per 1M tokens",
                                      help_text="Charged per million tokens: price of a million generated tokens, "
                                                "e.g. 1.50")

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {"name": data["name"], "kind": data["kind"], "currency": data["currency"], "unit": data["unit"],
                "unit_price_minor": _minor(data.get("unit_price")), "monthly_fee_minor": _minor(data.get("monthly_fee")),
                "included_calls": data.get("included_calls") or 0,
                "overage_price_minor": _minor(data.get("overage_price")),
                "input_price_per_million_minor": _minor_per_million(data.get("input_price")),
                "output_price_per_million_minor": _minor_per_million(data.get("output_price"))}


class UploadForm(forms.Form):
    file = forms.FileField(label="Model file", help_text=".onnx, TorchScript, torch.export .pt2, or a safetensors "
                           "zip with config.json. Raw pickles are refused.")
    version = forms.CharField(required=False, max_length=40, help_text="Semantic version; empty = next patch")


class CountryField(forms.ChoiceField):
    """An ISO 3166-1 alpha-2 code picked from the list of countries by name (django-countries);
    a code typed in lower case ("de") is taken as the same country."""

    def __init__(self, **kwargs):
        super().__init__(choices=[("", "Choose a country"), *countries], **kwargs)

    def to_python(self, value) -> str:
        return super().to_python(value).upper()


USES = [
    (LicenseAcceptance.Use.COMMERCIAL, "Commercial: in a product, service or work you are paid for"),
    (LicenseAcceptance.Use.NON_COMMERCIAL, "Non-commercial: personal or non-profit use"),
    (LicenseAcceptance.Use.RESEARCH, "Research: academic or internal evaluation"),
]


class SubscribeForm(forms.Form):
    declared_use = forms.ChoiceField(choices=USES, widget=forms.RadioSelect, label="How will you use the model?")
    territory = CountryField(label="Country of use")
    plan = forms.TypedChoiceField(coerce=int, widget=forms.RadioSelect, label="Plan")
    license_id = forms.IntegerField(widget=forms.HiddenInput)
    accept = forms.BooleanField(label="I have read the license above and accept it for my organization")

    def __init__(self, *args, plans: list[tuple[int, str]], commercial_use: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = plans
        if not commercial_use:
            # Not offered rather than refused after the fact; a forged "commercial" is an invalid
            # choice here, and entitlement_subscribe refuses it for API callers.
            self.fields["declared_use"].choices = [c for c in USES if c[0] != LicenseAcceptance.Use.COMMERCIAL]
            self.fields["declared_use"].help_text = "The license does not allow commercial use."


class SuspendForm(forms.Form):
    reason = forms.CharField(max_length=500, label="Reason the vendor will see")
