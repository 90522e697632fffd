"""Page forms. They check shapes only; the rules (unique slug, who may grant owner, scopes)
stay in the services, whose refusals the views put back on the form."""

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.template import loader

from accounts.models import ApiKey, Membership, User
from core.mail import email

# Plain words for each scope; the key form, the API schema and the README say the same.
SCOPE_HELP = {
    ApiKey.Scope.INFERENCE: "call models (OIP and predictions)",
    ApiKey.Scope.CATALOG_READ: "browse the catalog and read your subscriptions (read-only)",
    ApiKey.Scope.CATALOG_SUBSCRIBE: "accept licenses, subscribe to paid plans and cancel them (spends money)",
    ApiKey.Scope.MODELS_DOWNLOAD: "download model weights where the license allows it",
    ApiKey.Scope.VENDOR_WRITE: "manage your models and versions",
    ApiKey.Scope.BILLING_READ: "read usage and invoices",
    ApiKey.Scope.KEYS_MANAGE: "create and revoke keys",
}


class SignUpForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not only digits, not a common password.",
    )
    organization_name = forms.CharField(
        max_length=150, required=False, label="Organization name",
        help_text="Your company or team. It sells and buys models; you can invite colleagues later.",
    )
    invitation = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, invited_email: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.invited_email = invited_email
        if invited_email:
            # Joining through an invitation: the address is the invited one, no new organization.
            self.fields["email"].initial = invited_email
            self.fields["email"].widget.attrs["readonly"] = True
            del self.fields["organization_name"]
        else:
            self.fields["organization_name"].required = True

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if self.invited_email and email != self.invited_email.lower():
            raise forms.ValidationError(f"This invitation is for {self.invited_email}.")
        # No "this email has an account" here: sign-up answers alike for every address and emails
        # the owner of a taken one (accounts.onboarding.user_sign_up).
        return email

    def clean(self) -> dict:
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            try:
                password_validation.validate_password(password, User(email=cleaned.get("email", "")))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, labelled for email login."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Check both, or reset the password.",
    }


class ResilientPasswordResetForm(PasswordResetForm):
    """Django's reset form logs a failed send and drops the email; this one queues it to be
    tried again (core.mail), so a reset asked for during a mail server outage still arrives."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email,
                  html_email_template_name=None) -> None:
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        email(subject=subject, message=loader.render_to_string(email_template_name, context), recipients=[to_email])


class OneTimeCodeForm(forms.Form):
    code = forms.CharField(
        max_length=20, label="Code",
        help_text="The 6-digit code your authenticator app shows now, or one of your backup codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    slug = forms.SlugField(
        max_length=50, required=False,
        help_text="Appears in model names (your-org.model-name). Leave empty to derive it from the name.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. 'production backend'.")
    mode = forms.ChoiceField(
        choices=ApiKey.Mode.choices, initial=ApiKey.Mode.LIVE, widget=forms.RadioSelect,
        help_text="Test keys are for trying the API; live keys are billed.",
    )
    scopes = forms.MultipleChoiceField(
        # The label first; the scope's API name stays in brackets for those who script key creation.
        choices=[(value, f"{label}: {SCOPE_HELP[value]} ({value})") for value, label in ApiKey.Scope.choices],
        widget=forms.CheckboxSelectMultiple, initial=[ApiKey.Scope.INFERENCE, ApiKey.Scope.CATALOG_READ],
        error_messages={"required": "Tick at least one scope: a key without scopes can do nothing."},
    )
