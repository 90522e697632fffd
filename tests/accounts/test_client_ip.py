"""The client address comes from our own proxies' entries in X-Forwarded-For, never the client's."""

import pytest
from django.test import RequestFactory

from accounts.models import AuditLog
from accounts.tenancy import client_ip

SPOOFED = "6.6.6.6"


def _request(forwarded: str | None, remote: str = "10.0.0.2"):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request(f"{SPOOFED}, 198.51.100.4")) == "10.0.0.2"


@pytest.mark.parametrize(("count", "forwarded", "expected"), [
    (1, f"{SPOOFED}, 198.51.100.4", "198.51.100.4"),  # one proxy appended the real client
    (2, f"{SPOOFED}, 198.51.100.4, 10.1.1.1", "198.51.100.4"),  # CDN then load balancer
    (1, "198.51.100.4", "198.51.100.4"),
    (2, "198.51.100.4", "198.51.100.4"),  # fewer entries than proxies: the farthest one known
    (1, "", "10.0.0.2"),
    (1, "not-an-address", "10.0.0.2"),
])
def test_with_n_trusted_proxies_the_nth_entry_from_the_right_is_the_client(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(_request(forwarded)) == expected


@pytest.mark.django_db
def test_a_spoofed_header_does_not_reach_the_audit_log(client, buyer, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    client.post("/accounts/login/", {"username": buyer.user.email, "password": "wrong"},
                HTTP_X_FORWARDED_FOR=SPOOFED, REMOTE_ADDR="198.51.100.4")
    assert AuditLog.objects.get(action="user.login_failed").ip_address == "198.51.100.4"
