"""Forms of the vendor portal: listing, license, plan. Validation here is about shapes and which
fields a choice needs (a pay-as-you-go plan needs its unit price); every business rule stays in the
services, whose errors are shown on these forms. static/js/vendor-forms.js fills and hides fields
from the same choices, so a form without JavaScript still saves what it says."""

from decimal import ROUND_HALF_UP, Decimal

from django import forms

from marketplace.license_presets import PRESETS
from marketplace.model_tasks import TASKS
from marketplace.models import License, Model, Plan

OTHER_SPDX = "other"


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.replace(";", ",").split(",") if c.strip()]


class ModelForm(forms.Form):
    name = forms.CharField(max_length=150)
    slug = forms.SlugField(max_length=60, required=False,
                           help_text="Part of the API name vendor.slug; lowercase letters, digits, -. "
                                     "Left empty, it is made from the name.")
    task = forms.ChoiceField(choices=[("", "Not set"), *TASKS], required=False,
                             help_text="Buyers filter the catalog by task.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False,
                                  help_text="Markdown: **bold**, lists, `code`, links. HTML is removed.")
    tags = forms.CharField(max_length=400, required=False, help_text="Comma-separated, e.g. nlp, english")
    visibility = forms.ChoiceField(choices=Model.Visibility.choices, initial=Model.Visibility.PRIVATE,
                                   help_text="Publishing makes a model public.")

    def __init__(self, *args, current_task: str = "", creating: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if current_task and current_task not in dict(TASKS):
            # A task saved before the list existed stays selectable until the vendor picks another.
            self.fields["task"].choices = [*self.fields["task"].choices, (current_task, current_task)]
        if creating:
            self.fields["slug"].widget.attrs["data-slug-from"] = "id_name"  # vendor-forms.js fills it
        else:
            self.fields["slug"].required = True
            self.fields["slug"].help_text = ("Part of the API name vendor.slug: changing it changes the name "
                                             "buyers call.")

    def clean_tags(self) -> list[str]:
        return _codes(self.cleaned_data["tags"])[:20]


def _preset_choices() -> list[tuple[str, str]]:
    return [("", "Choose a license"), *((p.spdx_id, f"{p.spdx_id} — {p.name}") for p in PRESETS),
            (OTHER_SPDX, "Another SPDX id (type it below)")]


class LicenseForm(forms.Form):
    kind = forms.ChoiceField(choices=[("spdx", "An open license (SPDX)"), ("custom", "My own EULA")],
                             widget=forms.RadioSelect, initial="spdx", label="License type")
    spdx_id = forms.ChoiceField(choices=_preset_choices, required=False, label="Open license",
                                help_text="Choosing one sets the permissions below to what the license grants; "
                                          "you can still change them.")
    identifier = forms.CharField(max_length=80, required=False, label="SPDX id or EULA name",
                                 help_text="Your EULA's name, or an SPDX id that is not in the list")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, label="Full text",
                           help_text="Required for a custom EULA; buyers read it before accepting.")
    commercial_use = forms.BooleanField(required=False, label="Commercial use allowed")
    weight_download = forms.BooleanField(required=False, label="Buyers may download the weights")
    attribution_required = forms.BooleanField(required=False, label="Attribution required")
    derivatives_allowed = forms.BooleanField(required=False, label="Modified versions allowed",
                                             help_text="Derivatives: buyers may share changed or fine-tuned versions")
    territory_mode = forms.ChoiceField(choices=License.TerritoryMode.choices, label="Territory")
    territories = forms.CharField(required=False, max_length=600, label="Countries",
                                  help_text="ISO codes, comma-separated (for 'allow' or 'deny'), e.g. DE, FR")
    max_monthly_calls = forms.IntegerField(required=False, min_value=1, label="Monthly call limit per buyer")
    expires_at = forms.DateTimeField(required=False, label="Expires",
                                     widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each option carries its preset, which vendor-forms.js copies into the checkboxes.
        self.fields["spdx_id"].widget = PresetSelect(choices=self.fields["spdx_id"].choices)

    def clean_territories(self) -> list[str]:
        return _codes(self.cleaned_data["territories"])

    def clean(self) -> dict:
        data = super().clean()
        chosen, typed = data.get("spdx_id") or "", (data.get("identifier") or "").strip()
        if data.get("kind") == License.Kind.SPDX and chosen and chosen != OTHER_SPDX:
            data["identifier"] = chosen
        elif not typed:
            field = "identifier" if data.get("kind") == License.Kind.CUSTOM or chosen == OTHER_SPDX else "spdx_id"
            self.add_error(field, "Choose a license from the list." if field == "spdx_id"
                           else "Give the SPDX id or the name of your EULA.")
        else:
            data["identifier"] = typed
        return data

    def service_kwargs(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "spdx_id"}


class PresetSelect(forms.Select):
    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        preset = next((p for p in PRESETS if p.spdx_id == value), None)
        if preset is not None:
            option["attrs"].update({
                "data-commercial-use": int(preset.commercial_use), "data-weight-download": int(preset.weight_download),
                "data-attribution-required": int(preset.attribution_required),
                "data-derivatives": int(preset.derivatives), "data-conditions": preset.conditions})
        return option


def _minor(value: Decimal | None) -> int:
    """Major units typed by a person -> minor units (cents) as the services take them."""
    return int(((value or Decimal(0)) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _minor_per_million(value: Decimal | None) -> Decimal:
    """A per-million token price in major units (0.075) -> minor units with four decimals (7.5000)."""
    return ((value or Decimal(0)) * 100).quantize(Decimal("0.0001"))


# Which fields each plan type uses; vendor-forms.js shows only these (data-plan-kinds on each field).
PLAN_FIELDS = {
    "unit": ("payg",), "unit_price": ("payg",), "monthly_fee": ("subscription",),
    "included_calls": ("free", "subscription"), "overage_price": ("subscription",),
    "input_price": ("payg",), "output_price": ("payg",),
}


class PlanForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What buyers see, e.g. Starter")
    kind = forms.ChoiceField(choices=[("free", "Free tier"), ("payg", "Pay as you go"),
                                      ("subscription", "Subscription")], label="Plan type")
    currency = forms.ChoiceField(choices=[(c, c.upper()) for c in ("usd", "eur", "gbp", "chf")], initial="usd")
    unit = forms.ChoiceField(choices=Plan.Unit.choices, initial=Plan.Unit.CALL, label="Charged per", required=False)
    unit_price = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Price per unit",
                                    help_text="In the currency (0.02 = 2 cents)")
    monthly_fee = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Monthly fee")
    included_calls = forms.IntegerField(required=False, min_value=0, label="Included calls a month")
    overage_price = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Price per extra call",
                                       help_text="After the included calls; 0 or empty stops at them")
    # Six decimals in major units are the four of minor units the plan stores ($0.000075 = 0.0075 cents).
    input_price = forms.DecimalField(required=False, min_value=0, decimal_places=6, max_digits=12,
                                     label="Input price per 1M tokens",
                                     help_text="Charged per million tokens: price of a million prompt tokens, "
                                               "e.g. 0.50")
    output_price = forms.DecimalField(required=False, min_value=0, decimal_places=6, max_digits=12,
                                      label="Output price per 1M tokens",
                                      help_text="Charged per million tokens: price of a million generated tokens, "
                                                "e.g. 1.50")
    estimate_volume = forms.IntegerField(required=False, min_value=0, initial=10_000, label="Estimate for",
                                         help_text="Calls a month (millions of input and of output tokens for a "
                                                   "token plan); only for the estimate, not saved")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, kinds in PLAN_FIELDS.items():
            self.fields[name].widget.attrs["data-plan-kinds"] = " ".join(kinds)
        # Needed by the plan type that shows them (checked in clean; vendor-forms.js marks them).
        for name, kind in (("unit", "payg"), ("unit_price", "payg"), ("monthly_fee", "subscription"),
                           ("included_calls", "free")):
            self.fields[name].widget.attrs["data-required-kinds"] = kind
        for name in ("input_price", "output_price"):
            self.fields[name].widget.attrs["data-plan-units"] = Plan.Unit.TOKENS
        self.fields["unit_price"].widget.attrs["data-plan-units"] = " ".join(
            u for u in Plan.Unit.values if u != Plan.Unit.TOKENS)

    def clean(self) -> dict:
        data = super().clean()
        kind, unit = data.get("kind"), data.get("unit") or Plan.Unit.CALL
        if kind != Plan.Kind.PAYG:
            unit = Plan.Unit.CALL  # free tiers and subscriptions count calls
        data["unit"] = unit
        for name, kinds in PLAN_FIELDS.items():
            if name != "unit" and kind not in kinds and data.get(name):
                label = self.fields[name].label.lower()
                self.add_error(name, f"A {dict(self.fields['kind'].choices)[kind].lower()} plan has no {label}; "
                                     "leave it empty.")
        if kind == Plan.Kind.PAYG and unit != Plan.Unit.TOKENS and not data.get("unit_price"):
            self.add_error("unit_price", "A pay-as-you-go plan needs its price per unit, e.g. 0.02.")
        if kind == Plan.Kind.SUBSCRIPTION and not data.get("monthly_fee"):
            self.add_error("monthly_fee", "A subscription needs its monthly fee, e.g. 9.00.")
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {"name": data["name"], "kind": data["kind"], "currency": data["currency"], "unit": data["unit"],
                "unit_price_minor": _minor(data.get("unit_price")), "monthly_fee_minor": _minor(data.get("monthly_fee")),
                "included_calls": data.get("included_calls") or 0,
                "overage_price_minor": _minor(data.get("overage_price")),
                "input_price_per_million_minor": _minor_per_million(data.get("input_price")),
                "output_price_per_million_minor": _minor_per_million(data.get("output_price"))}
