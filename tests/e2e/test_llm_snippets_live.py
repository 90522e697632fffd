"""The code a language model's page offers runs as shown: its curl (Server-Sent Events), Python
(the official `openai` SDK with base_url <site>/v1) and JavaScript fetch snippets, with the
buyer's key in place of its prefix, stream an answer from the real web server (gunicorn) and a
real inference worker, and each call is billed once."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys

import pytest
from django.test import Client

from billing.models import UsageEvent
from tests.e2e.test_llm_api import web, worker  # noqa: F401 - the module's live stack, reused
from tests.inference.serving import subscribe
from tests.llm_serving import published_llm

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chat(vendor, buyer, fresh_serving_caches):
    model = published_llm(vendor.organization, "chat")
    subscribe(buyer, model, "payg")
    return model


def page_snippets(buyer, path: str = "/catalog/vendor-co/chat/") -> dict[str, str]:
    client = Client()
    client.force_login(buyer.user)
    page = client.get(path).content.decode()
    return {language: html.unescape(code)
            for language, code in re.findall(r'<code id="snippet-code-(\w+)">(.*?)</code>', page, re.S)}


def runnable(code: str, buyer, web) -> str:  # noqa: F811 - web is the fixture's value
    placeholder = f"{buyer.api_key.display_prefix}…"
    assert placeholder in code and buyer.secret not in code
    return code.replace(placeholder, buyer.secret).replace("http://testserver", web.base)


def billed_once(buyer) -> UsageEvent:
    [event] = UsageEvent.objects.filter(organization=buyer.organization)
    assert event.input_tokens > 0 and event.output_tokens > 0
    return event


def test_the_page_and_the_playground_offer_the_same_three_tabs(buyer, chat):
    snippets = page_snippets(buyer)
    assert list(snippets) == ["curl", "python", "javascript"]
    assert snippets == page_snippets(buyer, "/console/playground/vendor-co/chat/")
    assert 'base_url="http://testserver/v1"' in snippets["python"] and "stream=True" in snippets["python"]
    assert snippets["curl"].startswith("curl -N http://testserver/v1/chat/completions")
    assert '"stream": true' in snippets["curl"] and "stream: true" in snippets["javascript"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_snippet_streams_server_sent_events(buyer, chat, web, worker):  # noqa: F811
    command = runnable(page_snippets(buyer)["curl"], buyer, web) + " -sS"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    events = [line.removeprefix("data: ") for line in done.stdout.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and len(events) > 3, done.stdout[-2000:]
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["model"] for chunk in chunks} == {"vendor-co.chat"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    billed_once(buyer)


def test_the_python_snippet_streams_with_the_openai_sdk(buyer, chat, web, worker, tmp_path):  # noqa: F811
    script = tmp_path / "chat.py"
    script.write_text(runnable(page_snippets(buyer)["python"], buyer, web))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and done.stdout.strip()
    billed_once(buyer)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_snippet_reads_the_event_stream_with_fetch(buyer, chat, web, worker, tmp_path):  # noqa: F811
    script = tmp_path / "chat.mjs"
    script.write_text(runnable(page_snippets(buyer)["javascript"], buyer, web))
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and done.stdout.strip()
    billed_once(buyer)
