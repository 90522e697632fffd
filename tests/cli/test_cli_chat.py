"""`modelbay chat` streams a language model's answer from /v1/chat/completions through the web
server as `make run` serves it (gunicorn) and a real inference worker; the text is what ONNX
Runtime GenAI generates greedily on the same built folder."""

from __future__ import annotations

import pytest

from billing.models import UsageEvent
from tests.cli.cli import cli_env, modelbay
from tests.e2e.test_llm_api import MESSAGES, reference
from tests.inference.serving import subscribe
from tests.llm_serving import WebServer, published_llm
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web(django_db_setup, django_db_blocker):
    server = WebServer()
    yield server
    server.stop()


@pytest.fixture
def worker(django_db_setup, django_db_blocker):
    process = WorkerProcess(queues="infer.cpu,default", concurrency=4, name="cli-llm")
    yield process
    process.stop()


def test_chat_streams_the_answer_and_reports_its_tokens(vendor, buyer, fresh_serving_caches, web, worker, tmp_path):
    subscribe(buyer, published_llm(vendor.organization, "chat"), "payg")
    env = cli_env(tmp_path, web.base, buyer.secret)
    [system, user] = MESSAGES

    done = modelbay("chat", "vendor-co/chat", "--system", system["content"], "-m", user["content"],
                    "--max-tokens", "24", "--temperature", "0", env=env)

    assert done.returncode == 0, done.stderr
    text, completion_tokens, prompt_tokens = reference(MESSAGES, max_tokens=24)
    assert done.stdout == text + "\n"
    assert f"[{prompt_tokens} prompt + {completion_tokens} completion tokens]" in done.stderr
    event = UsageEvent.objects.get(organization=buyer.organization)
    assert (event.input_tokens, event.output_tokens) == (prompt_tokens, completion_tokens)

    piped = modelbay("chat", "vendor-co.chat", "--max-tokens", "4", env=env, stdin="Hello world")
    assert piped.returncode == 0 and piped.stdout.strip(), piped.stderr
    missing = modelbay("chat", "vendor-co/none", "-m", "hi", env=env)
    assert missing.returncode == 4 and "[not_found, HTTP 404]" in missing.stderr, missing.stderr
