"""A generation worker killed with kill -9 in the middle of a stream: the buyer gets an error event,
not a hang, and is billed at most once, for nothing beyond the tokens delivered. Processes of this
test's own, so the request can only go to the worker that is killed."""

from __future__ import annotations

import openai
import pytest
from tokenizers import Tokenizer

from billing.models import UsageEvent
from tests.inference.serving import subscribe
from tests.llm_serving import WebServer, chat_ids, genai_folder, greedy_tokens, published_llm

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SLOW = "vendor-co.slow"
MESSAGES = [{"role": "user", "content": "Tell me everything"}]


def test_a_worker_killed_mid_stream_gives_the_client_an_error_and_bills_nothing_twice(
        vendor, buyer, fresh_serving_caches, start_worker):
    model = published_llm(vendor.organization, "slow", family="slow-llama")
    subscribe(buyer, model, "payg")
    web = WebServer()
    try:
        victim = start_worker(queues="infer.cpu", concurrency=2, name="llm-victim")
        client = openai.OpenAI(base_url=f"{web.base}/v1", api_key=buyer.secret, max_retries=0, timeout=120)
        warm = client.completions.create(model=SLOW, prompt="warm up", max_tokens=2)
        stream = client.chat.completions.create(model=SLOW, messages=MESSAGES, temperature=0, max_tokens=1500,
                                                stream=True)
        received, text = 0, []
        with pytest.raises(openai.APIError) as failed:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received += 1
                    text.append(chunk.choices[0].delta.content)
                if received == 5:
                    victim.kill()  # the survivor's first sweep answers the stream at once
                    start_worker(queues="infer.cpu", concurrency=2, name="llm-survivor")
    finally:
        web.stop()
    assert "stopped" in failed.value.message and "billed only for the tokens already delivered" in failed.value.message
    streamed = list(UsageEvent.objects.filter(organization=buyer.organization).exclude(request_id=warm.id))
    assert len(streamed) == 1, "billed once, for the tokens it delivered"
    # The billed tokens are exactly those whose text reached the buyer: decoding the first N tokens
    # of the same greedy generation gives back the text received, N being what was billed.
    reference = greedy_tokens(chat_ids(MESSAGES, "slow-llama"), max_tokens=1500, family="slow-llama")
    tokenizer = Tokenizer.from_file(str(genai_folder("slow-llama") / "tokenizer.json"))
    assert tokenizer.decode(reference[:streamed[0].output_tokens]) == "".join(text)
