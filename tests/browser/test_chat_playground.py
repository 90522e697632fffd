"""The chat playground streams in Chromium: a buyer entitled to a published language model opens
the playground from the catalog page, chats, and watches the answer grow token by token over
POST /v1/chat/completions (SSE read with fetch + ReadableStream under the CSP), with a real
inference worker generating on its generation lane. The greedy answer is the API's own, usage shows
at the end, the second turn carries the conversation, an API error shows its message, and Stop
ends a long answer early (billed for what was generated)."""

import time

import openai
import pytest
from playwright.sync_api import expect

from billing.models import UsageEvent
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_accessibility import PROBLEMS_JS
from tests.factories import PASSWORD
from tests.inference.serving import subscribe
from tests.llm_serving import published_llm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODEL = "vendor-co.slow@1.0.0"
SYSTEM = "You are terse."

# Records the last assistant bubble's text length at every change while it streams. Registered as
# a function: the CSP refuses string evaluation.
RECORD_LENGTHS = """() => {
  window.answerLengths = [];
  const transcript = document.getElementById("chat-transcript");
  new MutationObserver(() => {
    const bubbles = transcript.querySelectorAll('[data-testid="assistant-bubble"]');
    const last = bubbles[bubbles.length - 1];
    if (last && !last.dataset.state) window.answerLengths.push(last.querySelector(".text").textContent.length);
  }).observe(transcript, {childList: true, subtree: true, characterData: true});
}"""


def send(page, text: str, *, with_enter: bool = False) -> None:
    page.evaluate("() => { window.answerLengths = []; }")
    page.get_by_label("Message").fill(text)
    if with_enter:
        page.get_by_label("Message").press("Enter")
    else:
        page.get_by_role("button", name="Send").click()


def last_answer(page) -> str:
    return page.get_by_test_id("assistant-bubble").last.locator(".text").text_content()


def test_the_chat_playground_streams_in_chromium(page, live_server, vendor, buyer, celery_worker,
                                                 fresh_serving_caches):
    model = published_llm(vendor.organization, "slow", family="slow-llama")
    subscribe(buyer, model, "payg")
    api = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=buyer.secret, max_retries=0, timeout=120)
    first = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hello world"}]
    expected = api.chat.completions.create(model=MODEL, messages=first, temperature=0, max_tokens=120)

    log_in(page, buyer.user.email, PASSWORD)
    page.goto("/catalog/vendor-co/slow/")
    expect(page.get_by_test_id("llm-code-python")).to_contain_text('model="vendor-co.slow"')
    page.get_by_role("link", name="Try it in the playground").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Playground: Slow")
    assert page.evaluate(PROBLEMS_JS) == []
    page.evaluate(RECORD_LENGTHS)
    page.get_by_label("System prompt").fill(SYSTEM)
    page.get_by_label("Max tokens").fill("120")
    page.get_by_label("Temperature").fill("0")
    send(page, "Hello world")

    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    usage = page.get_by_test_id("chat-usage")
    expect(usage).to_contain_text("completion tokens", timeout=60_000)
    answer = last_answer(page)
    assert answer == expected.choices[0].message.content and answer
    lengths = page.evaluate("() => window.answerLengths")
    assert any(0 < n < len(answer) for n in lengths), f"the answer arrived in one piece: {lengths}"
    assert len({n for n in lengths if n > 0}) > 2, lengths
    expect(usage).to_contain_text(f"Prompt tokens: {expected.usage.prompt_tokens} · "
                                  f"completion tokens: {expected.usage.completion_tokens}")
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    screenshot(page, "60-chat-playground")

    # The second turn sends the conversation so far: the same answer as the API gives for it.
    second = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
    expected = api.chat.completions.create(model=MODEL, messages=second, temperature=0, max_tokens=120)
    send(page, "And then?", with_enter=True)
    expect(page.get_by_test_id("assistant-bubble")).to_have_count(2)
    expect(usage).to_contain_text(f"Prompt tokens: {expected.usage.prompt_tokens} · ", timeout=60_000)
    assert last_answer(page) == expected.choices[0].message.content

    # An error the API answers is shown with its message; the turn is taken back to be sent again.
    page.get_by_label("Max tokens").fill("4000")
    send(page, "Too long")
    expect(page.get_by_role("alert")).to_contain_text("HTTP 400: ")
    expect(page.get_by_role("alert")).to_contain_text("context")
    expect(page.get_by_test_id("assistant-bubble")).to_have_count(2)
    expect(page.get_by_label("Message")).to_have_value("Too long")

    # Stop ends a long answer mid-way; the call is billed for the tokens generated until then.
    page.get_by_role("button", name="Clear conversation").click()
    page.get_by_label("Max tokens").fill("1500")
    send(page, "Tell me everything.")
    expect(page.get_by_test_id("assistant-bubble").locator(".text")).not_to_have_text("", timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    expect(usage).to_contain_text("Stopped. Only the tokens generated until then are billed.")
    expect(page.get_by_test_id("assistant-bubble")).to_have_attribute("data-state", "stopped")
    events = UsageEvent.objects.filter(organization=buyer.organization)
    deadline = time.monotonic() + 20
    while events.count() < 5:  # two API calls, two answers, and the stopped one
        assert time.monotonic() < deadline, "the stopped call was never settled"
        time.sleep(0.2)
    stopped = events.order_by("-created_at").first()
    assert 0 < stopped.output_tokens < 1500
