"""Login and failed login are security events: they go to the audit log."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts.services import audit_record
from accounts.tenancy import client_ip


@receiver(user_logged_in)
def _audit_login(sender, request, user, **kwargs) -> None:
    audit_record(action="user.logged_in", actor=user, target=user.email,
                 ip_address=client_ip(request) if request else None)


@receiver(user_login_failed)
def _audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # The attempted email is recorded (it is what an investigator needs); the password never is.
    audit_record(action="user.login_failed", target=str(credentials.get("username", ""))[:200],
                 ip_address=client_ip(request) if request else None)
