"""The staff dashboard says whether Stripe is configured."""

from billing.staff_dashboard import stripe_status


def test_dashboard_says_stripe_is_not_configured_in_local_ledger_mode(db, settings):
    settings.STRIPE_API_KEY = ""
    card = stripe_status()
    assert card.value == "Not configured" and "local-ledger" in card.hint


def test_dashboard_shows_stripe_connected(db, stripe_standin):
    assert stripe_status().value == "Connected"
