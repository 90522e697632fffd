"""Meter events: identifier dedupe, summaries, cancellations, and reports for unknown customers."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture(autouse=True)
def mid_hour(standin) -> None:
    """Pin the clock to the middle of an hour so hour windows can't roll over mid-test."""
    standin.set_clock((standin.store.now() // 3600 + 1) * 3600 + 1800)


def send(client: stripe.StripeClient, customer: str, value: int, identifier: str, timestamp: int | None = None):
    params = {"event_name": "inference_call", "identifier": identifier,
              "payload": {"stripe_customer_id": customer, "value": str(value)}}
    if timestamp is not None:
        params["timestamp"] = timestamp
    return client.v1.billing.meter_events.create(params)


def summary(client, meter: str, customer: str, start: int, end: int, **extra):
    return client.v1.billing.meters.event_summaries.list(
        meter, {"customer": customer, "start_time": start, "end_time": end, **extra}).data


def hour_window(standin) -> tuple[int, int]:
    start = standin.store.now() // 3600 * 3600
    return start, start + 3600


def test_a_repeated_identifier_is_refused_like_stripe_does(metered, client, standin) -> None:
    cus = metered["customer"].id
    event = send(client, cus, 3, "usage-1")
    assert event.identifier == "usage-1" and event.payload["value"] == "3"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        send(client, cus, 3, "usage-1")
    assert str(exc.value.user_message) == "An event already exists with identifier usage-1."
    assert exc.value.http_status == 400
    assert exc.value.headers.get("stripe-should-retry") == "false"
    assert [e["identifier"] for e in standin.state()["meter_events"]] == ["usage-1"]


def test_identifiers_can_be_reused_after_24_hours(metered, client, standin) -> None:
    send(client, metered["customer"].id, 1, "daily-1")
    standin.advance_clock(24 * 3600 + 60)
    send(client, metered["customer"].id, 1, "daily-1")
    assert len(standin.state()["meter_events"]) == 2


def test_summaries_sum_event_values_per_customer(metered, client, standin) -> None:
    cus, meter = metered["customer"].id, metered["meter"].id
    other = client.v1.customers.create({}).id
    start, end = hour_window(standin)
    now = standin.store.now()
    send(client, cus, 5, "a", now)
    send(client, cus, 7, "b", now)
    send(client, other, 100, "c", now)
    [total] = summary(client, meter, cus, start, end)
    assert total.aggregated_value == 12 and total.start_time == start and total.end_time == end
    assert total.object == "billing.meter_event_summary" and total.meter == meter


def test_summaries_group_by_hour(metered, client, standin) -> None:
    cus, meter = metered["customer"].id, metered["meter"].id
    start, _ = hour_window(standin)
    now = standin.store.now()
    send(client, cus, 2, "now", now)
    send(client, cus, 3, "an-hour-ago", now - 3600)
    rows = summary(client, meter, cus, start - 3600, start + 3600, value_grouping_window="hour")
    assert [(r.start_time, r.aggregated_value) for r in rows] == [(start, 2), (start - 3600, 3)]


def test_summary_bounds_must_align_with_the_window(metered, client, standin) -> None:
    start, end = hour_window(standin)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        summary(client, metered["meter"].id, metered["customer"].id, start + 60, end,
                value_grouping_window="hour")
    assert exc.value.param == "start_time"


def test_a_cancel_adjustment_removes_the_event_from_summaries(metered, client, standin) -> None:
    cus, meter = metered["customer"].id, metered["meter"].id
    start, end = hour_window(standin)
    send(client, cus, 5, "keep")
    send(client, cus, 9, "mistake")
    adjustment = client.v1.billing.meter_event_adjustments.create(
        {"event_name": "inference_call", "type": "cancel", "cancel": {"identifier": "mistake"}})
    assert adjustment.status == "complete" and adjustment.cancel.identifier == "mistake"
    [total] = summary(client, meter, cus, start, end)
    assert total.aggregated_value == 5


def test_events_outside_stripes_time_window_are_refused(metered, client, standin) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        send(client, metered["customer"].id, 1, "too-old", standin.store.now() - 36 * 86400)
    assert exc.value.param == "timestamp"


def test_an_unknown_customer_is_accepted_then_reported(metered, client, standin, receiver) -> None:
    send(client, "cus_ghost", 4, "ghost-1")
    delivery = receiver.wait_for("billing.meter.error_report_triggered")
    event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], "whsec_standin_test_secret")
    assert event.data.object.meter == metered["meter"].id
    sample = event.data.object.reason.error_types[0].sample_errors[0]
    assert sample.request.identifier == "ghost-1"
    start, end = hour_window(standin)
    assert summary(client, metered["meter"].id, "cus_ghost", start, end)[0].aggregated_value == 0


def test_an_event_name_without_a_meter_is_refused(client) -> None:
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.billing.meter_events.create(
            {"event_name": "nope", "payload": {"stripe_customer_id": "cus_1", "value": "1"}})
    assert exc.value.param == "event_name"


def test_concurrent_sends_of_one_identifier_record_it_once(metered, client, standin) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_: int) -> bool:
        try:
            send(client, metered["customer"].id, 1, "racy-1")
            return True
        except stripe.InvalidRequestError:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count(True) == 1
    assert [e["identifier"] for e in standin.state()["meter_events"]] == ["racy-1"]
