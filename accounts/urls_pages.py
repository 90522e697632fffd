"""Account pages under /accounts/ (the API's routes are in accounts/urls.py)."""

from django.urls import path

from accounts import views, views_security

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/sent/", views_security.signup_sent, name="signup-sent"),
    path("verify-email/resend/", views_security.verify_email_resend, name="verify-email-resend"),
    path("verify-email/<str:token>/", views_security.verify_email, name="verify-email"),
    path("login/", views_security.LoginView.as_view(), name="login"),
    path("login/code/", views_security.login_code, name="login-code"),
    path("security/", views_security.security, name="security"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views_security.PasswordResetView.as_view(), name="password-reset"),
    path("password-reset/sent/", views_security.PasswordResetDoneView.as_view(), name="password-reset-done"),
    path("reset/<uidb64>/<token>/", views_security.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("reset/done/", views_security.PasswordResetCompleteView.as_view(), name="password-reset-complete"),
    path("orgs/new/", views.organization_create, name="org-create"),
    path("orgs/switch/", views.organization_switch, name="org-switch"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("keys/", views.api_keys, name="keys"),
    path("keys/<int:key_id>/revoke/", views.api_key_revoke, name="key-revoke"),
]
