"""Forms of the upload page, the subscribe flow and moderation (the listing, license and plan forms
are in vendor_forms.py). Validation here is about shapes; every business rule stays in the
services, whose errors are shown on these forms."""

from django import forms
from django_countries import countries

from marketplace.models import LicenseAcceptance


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class UploadForm(forms.Form):
    # Rendered only: the page's script sends the files through the multipart upload API.
    file = forms.FileField(label="Model file", widget=MultipleFileInput(attrs={"multiple": True}),
                           help_text=".onnx, TorchScript, torch.export .pt2, or a safetensors zip with "
                           "config.json; or choose all the files of a Hugging Face folder at once (config.json, "
                           "safetensors, tokenizer files) and they are zipped for you. Raw pickles are refused.")
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
