"""Key scopes read as words on the key pages; their API names stay only in the form's brackets."""

import re

import pytest

from accounts.models import ApiKey

pytestmark = pytest.mark.django_db


def test_key_list_and_form_show_scopes_by_their_labels(client, buyer):
    client.force_login(buyer.user)
    client.post("/accounts/keys/", {"name": "reporting", "mode": "live", "scopes": ["billing:read", "inference"]})
    assert ApiKey.objects.get(name="reporting").scopes == ["billing:read", "inference"]
    html = client.get("/accounts/keys/").content.decode()
    row = re.search(r"<tr[^>]*>\s*<td>reporting</td>.*?</tr>", html, re.DOTALL)[0]
    assert "Billing (read), Inference" in row
    assert "billing:read" not in row
    assert "Billing (read): read usage and invoices (billing:read)" in html  # the form's checkbox


def test_revoke_page_names_the_scopes_by_their_labels(client, buyer):
    client.force_login(buyer.user)
    html = client.get(f"/accounts/keys/{buyer.api_key.pk}/revoke/").content.decode()
    assert "scopes Billing (read), Catalog (read), Subscriptions, Inference, Key management" in html
    assert "catalog:read" not in html
