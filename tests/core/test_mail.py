"""Mail during a mail server outage (core/mail.py): the request that sends it still succeeds, the
email is queued and arrives once the server is back, and an inference call that raises a usage
alert never waits on the mail server at all.

The outage is real to Django's SMTP backend: EMAIL_HOST points at a port where connections are
refused, or at a server that accepts and never speaks. The queued messages are read back from the
real broker (Redis) and run by the task they name.
"""

import base64
import json
import logging
import re
import select
import socket

import pytest
from celery.signals import task_retry
from django.core import mail
from django.test import Client

from accounts.models import User
from billing.models import Notification
from billing.services.limits import usage_limit_set
from billing.services.metering import usage_commit, usage_reserve
from billing.tasks import alert_email
from core.mail import EMAIL_MAX_RETRIES
from core.redis import get_redis
from core.tasks import email_send
from marketplace.models import ModelVersion
from tests.inference.serving import subscribe

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: on-commit mail runs as in production

NEW = "newcomer@example.com"


@pytest.fixture
def default_queue():
    redis = get_redis()
    redis.delete("default")
    yield redis
    redis.delete("default")  # no worker here; leave nothing for later tests


def _queued(redis) -> list[tuple[str, list, dict]]:
    """(task name, args, kwargs) of every message waiting on the default queue."""
    tasks = []
    for raw in redis.lrange("default", 0, -1):
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args, kwargs))
    return tasks


def _smtp(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 3


@pytest.fixture
def mail_server_down(settings):
    """Django's SMTP backend, pointed at a port that refuses connections. Yields the call that
    brings the server back (the test's in-memory outbox)."""
    with socket.socket() as refusing:  # bound, never listening
        refusing.bind(("127.0.0.1", 0))
        _smtp(settings, refusing.getsockname()[1])
        yield lambda: setattr(settings, "EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")


def _run(task, kwargs: dict) -> None:
    result = task.apply(kwargs=kwargs)
    assert result.successful(), result.traceback


def test_sign_up_during_a_mail_server_outage_succeeds_and_the_link_arrives_once_the_server_is_back(
        mail_server_down, default_queue, caplog):
    client = Client()
    with caplog.at_level(logging.WARNING, logger="modelbay.mail"):
        response = client.post("/accounts/signup/", {
            "email": NEW, "password": "a long passphrase 42", "organization_name": "Fresh Org"})
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/sent/"  # not a 500
    assert not User.objects.get(email=NEW).email_verified
    assert "mail server unavailable (ConnectionRefusedError)" in caplog.text
    assert NEW not in caplog.text  # neither the address nor the link is logged
    ((name, _, kwargs),) = _queued(default_queue)
    assert name == "core.tasks.email_send" and kwargs["recipients"] == [NEW]

    mail_server_down()  # the server is back: the queued task delivers the very link
    _run(email_send, kwargs)
    (message,) = mail.outbox
    assert message.to == [NEW] and message.subject == "Confirm your email address for Modelbay"
    link = re.search(r"http://\S+(/accounts/verify-email/\S+/)", message.body).group(1)
    assert "confirmed" in client.get(link).content.decode()
    assert User.objects.get(email=NEW).email_verified


def test_a_password_reset_asked_during_the_outage_is_queued_not_dropped(buyer, mail_server_down, default_queue):
    response = Client().post("/accounts/password-reset/", {"email": buyer.user.email})
    assert response["Location"] == "/accounts/password-reset/sent/"
    ((name, _, kwargs),) = _queued(default_queue)
    assert name == "core.tasks.email_send" and kwargs["recipients"] == [buyer.user.email]
    mail_server_down()
    _run(email_send, kwargs)
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    assert Client().get(link, follow=True).status_code == 200


def test_a_queued_email_is_tried_again_while_the_server_stays_down_then_given_up(mail_server_down):
    retries = []

    def count(**_):
        retries.append(1)

    task_retry.connect(count)
    try:  # apply() runs each retry at once instead of after its countdown
        result = email_send.apply(kwargs={"subject": "s", "message": "m", "recipients": [NEW]})
    finally:
        task_retry.disconnect(count)
    assert len(retries) == EMAIL_MAX_RETRIES == 12
    assert result.state == "FAILURE"
    assert repr(result.result) == "MailServerUnavailable('ConnectionRefusedError')"  # no address in it
    assert mail.outbox == []


def test_with_broker_and_mail_server_both_down_the_sign_up_still_succeeds_and_the_loss_is_logged(
        mail_server_down, broker_down, caplog):
    with caplog.at_level(logging.WARNING, logger="modelbay.mail"):
        response = Client().post("/accounts/signup/", {
            "email": NEW, "password": "a long passphrase 42", "organization_name": "Fresh Org"})
    assert response.status_code == 302
    assert "email lost: mail server and broker both unavailable" in caplog.text
    assert User.objects.filter(email=NEW).exists()


def test_an_inference_call_that_raises_a_usage_alert_never_waits_on_the_mail_server(
        buyer, tiny, settings, default_queue):
    settings.BILLING_ALERT_EMAILS = True
    entitlement = subscribe(buyer, tiny, "payg")  # 2 minor a call
    usage_limit_set(organization=buyer.organization, spend_cap_minor=10)
    version = ModelVersion.objects.get(model=tiny)
    with socket.create_server(("127.0.0.1", 0)) as hung:  # accepts connections, never says a word
        _smtp(settings, hung.getsockname()[1])
        for i in range(4):  # 8 of 10 minor: crosses 80%
            reservation = usage_reserve(request_id=f"r{i}", organization=buyer.organization, api_key=buyer.api_key,
                                        model=tiny, entitlement=entitlement, units=4)  # fmt: skip
            usage_commit(reservation=reservation, version=version, compute_ms=1)
        readable, _, _ = select.select([hung], [], [], 0)
        assert readable == []  # nobody connected to the mail server during the calls
    alert = Notification.objects.get(organization=buyer.organization, threshold=80)
    assert _queued(default_queue) == [("billing.tasks.alert_email", [alert.pk], {})]

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _run(alert_email, {"notification_id": alert.pk})
    _run(alert_email, {"notification_id": alert.pk})  # a redelivered task sends nothing more
    (message,) = mail.outbox
    assert message.to == [buyer.user.email] and "Usage reached 80% of the org spend cap" in message.body
    alert.refresh_from_db()
    assert alert.emailed_at is not None
