"""The OpenAI-compatible API through the official `openai` SDK, unchanged, against the real web
server (gunicorn, as `make run` serves it) and a real inference worker generating with the
continuous-batching engine; billing on the real ledger. Reference outputs come from ONNX Runtime
GenAI run here on the same built folder."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import openai
import pytest
from django.apps import apps

from billing.models import UsageEvent
from billing.services.limits import usage_limit_set
from core.redis import get_redis
from tests.conftest import make_persona
from tests.inference.serving import subscribe
from tests.llm_serving import WebServer, genai_folder, greedy_tokens, published_llm
from tests.workers import WorkerProcess, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CHAT = "vendor-co.chat"
SLOW = "vendor-co.slow"
ORPHAN_GRACE, SWEEP = 1.0, 0.25  # seconds, for the worker below
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello world"}]


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    server = WebServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    # A short orphan grace and a fast sweep: the worker's own crash watch must never take a long
    # generation it is running for an orphan (it would end the stream with a 503).
    process = WorkerProcess(queues="infer.cpu,default", concurrency=4, name="llm",
                            env=worker_env(INFERENCE_ORPHAN_GRACE_SECONDS=str(ORPHAN_GRACE),
                                           INFERENCE_SWEEP_SECONDS=str(SWEEP)))
    yield process
    process.stop()


@pytest.fixture
def chat_model(vendor, buyer, fresh_serving_caches):
    model = published_llm(vendor.organization, "chat", with_int4=True)
    subscribe(buyer, model, "payg")
    return model


def sdk(persona, web) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{web.base}/v1", api_key=persona.secret, max_retries=0, timeout=120)


def reference(messages_or_prompt, *, max_tokens: int, family: str = "llama", **penalties) -> tuple[str, int, int]:
    """(text, completion tokens, prompt tokens) of greedy ONNX Runtime GenAI on the built folder."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    folder = genai_folder(family)
    if isinstance(messages_or_prompt, str):
        ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(messages_or_prompt).ids
    else:
        ids = AutoTokenizer.from_pretrained(folder).apply_chat_template(messages_or_prompt, tokenize=True,
                                                                        add_generation_prompt=True)
        ids = list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
    tokens = greedy_tokens(ids, max_tokens=max_tokens, family=family, **penalties)
    eos_ids = json.loads((folder / "genai_config.json").read_text())["model"]["eos_token_id"]
    eos = set(eos_ids) if isinstance(eos_ids, list) else {eos_ids}
    # og's own decode drops a trailing partial UTF-8 character; the tokenizer's decode keeps it, as
    # a stream does once the character is complete or the text ends.
    text = Tokenizer.from_file(str(folder / "tokenizer.json")).decode([t for t in tokens if t not in eos])
    return text, len(tokens), len(ids)


def test_models_are_listed_and_a_chat_completion_is_what_onnx_runtime_genai_generates(
        buyer, chat_model, web, worker):
    client = sdk(buyer, web)
    ids = {m.id for m in client.models.list()}
    assert {CHAT, f"{CHAT}:int4"} <= ids
    raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES, temperature=0,
                                                           max_tokens=24)
    answer = raw.parse()
    text, completion_tokens, prompt_tokens = reference(MESSAGES, max_tokens=24)
    assert answer.choices[0].message.content == text
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, completion_tokens)
    assert answer.usage.total_tokens == prompt_tokens + completion_tokens
    event = UsageEvent.objects.get(request_id=answer.id)
    assert raw.headers["X-Modelbay-Request-Id"] == answer.id
    assert raw.headers["X-Modelbay-Units"] == str(prompt_tokens + completion_tokens)
    assert (event.input_tokens, event.output_tokens) == (prompt_tokens, completion_tokens)
    assert raw.headers["RateLimit-Policy"].startswith('"key";q=')
    # with parameters many clients send at their neutral values on every call
    int4 = client.chat.completions.create(model=f"{CHAT}:int4", messages=MESSAGES, temperature=0, max_tokens=8,
                                          presence_penalty=0, logprobs=False, logit_bias={})  # fmt: skip
    assert int4.usage.completion_tokens >= 1 and int4.model == f"{CHAT}:int4"


def test_penalties_and_logit_bias_give_what_onnx_runtime_genai_gives_on_the_adjusted_logits(
        buyer, chat_model, web, worker):
    penalties = {"presence_penalty": 0.5, "frequency_penalty": 1.5}
    answer = sdk(buyer, web).chat.completions.create(model=CHAT, messages=MESSAGES, temperature=0, max_tokens=24,
                                                     **penalties)  # fmt: skip
    text, completion_tokens, _ = reference(MESSAGES, max_tokens=24, **penalties)
    assert answer.choices[0].message.content == text and answer.usage.completion_tokens == completion_tokens
    assert text != reference(MESSAGES, max_tokens=24)[0]  # the penalties changed the answer

    from tokenizers import Tokenizer

    forced = sdk(buyer, web).completions.create(model=CHAT, prompt="Once", max_tokens=5, logit_bias={"77": 100})
    tokenizer = Tokenizer.from_file(str(genai_folder("llama") / "tokenizer.json"))
    assert forced.choices[0].text == tokenizer.decode([77] * 5)  # a bias of 100 forces the token


def test_a_completion_is_what_onnx_runtime_genai_generates(buyer, chat_model, web, worker):
    answer = sdk(buyer, web).completions.create(model=f"{CHAT}@1.0.0", prompt="The quick brown fox", max_tokens=20,
                                                temperature=0)
    text, completion_tokens, prompt_tokens = reference("The quick brown fox", max_tokens=20)
    assert answer.choices[0].text == text
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, completion_tokens)


@pytest.fixture
def slow_model(vendor, buyer, fresh_serving_caches):
    model = published_llm(vendor.organization, "slow", family="slow-llama")
    subscribe(buyer, model, "payg")
    return model


def test_a_streamed_chat_arrives_token_by_token_and_ends_with_its_usage(buyer, slow_model, web, worker):
    sdk(buyer, web).completions.create(model=SLOW, prompt="warm up", max_tokens=2)  # load the model first
    stream = sdk(buyer, web).chat.completions.create(model=SLOW, messages=MESSAGES, temperature=0, max_tokens=300,
                                                     stream=True, stream_options={"include_usage": True})
    arrivals, text, finish, usage = [], [], None, None
    started = time.perf_counter()
    for chunk in stream:
        arrivals.append(time.perf_counter() - started)
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert usage is not None and usage.completion_tokens > 50 and finish in ("stop", "length")
    assert len(arrivals) > 20, "one chunk per token, not one blob"
    # Streamed, not buffered: the first tokens arrived well before the generation ended.
    assert arrivals[1] < 0.5 * arrivals[-1], arrivals[:3] + arrivals[-3:]
    event = UsageEvent.objects.get(organization=buyer.organization, output_tokens=usage.completion_tokens)
    assert event.input_tokens == usage.prompt_tokens


def test_token_calls_bill_exactly_the_reported_tokens_at_the_plans_two_prices(buyer, chat_model, web, worker):
    client = sdk(buyer, web)
    usages = [client.chat.completions.create(model=CHAT, messages=MESSAGES + [{"role": "user", "content": f"n{i}"}],
                                             max_tokens=5 + i, seed=i).usage for i in range(4)]
    events = UsageEvent.objects.filter(organization=buyer.organization)
    assert sorted((e.input_tokens, e.output_tokens) for e in events) == \
        sorted((u.prompt_tokens, u.completion_tokens) for u in usages)
    expected = sum(Decimal(u.prompt_tokens) * 50 / 10**6 + Decimal(u.completion_tokens) * 150 / 10**6 for u in usages)
    assert sum(e.amount_minor for e in events) == expected.quantize(Decimal("0.0001")) or \
        abs(sum(e.amount_minor for e in events) - expected) <= Decimal("0.0004")


def test_a_spend_cap_reached_mid_traffic_answers_402_before_generating(buyer, chat_model, web, worker):
    # $0.50 / 1M input, $1.50 / 1M output: a call reserving ~500 tokens costs ~0.07 cents.
    usage_limit_set(organization=buyer.organization, spend_cap_minor=1)
    client = sdk(buyer, web)
    statuses = []
    for _ in range(40):
        try:
            client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=400)
            statuses.append(200)
        except openai.APIStatusError as exc:
            statuses.append(exc.status_code)
            assert exc.status_code == 402 and "spend cap" in str(exc.message)
            break
    assert statuses[-1] == 402 and statuses.count(200) == len(statuses) - 1
    recorded = UsageEvent.objects.filter(organization=buyer.organization).count()
    assert recorded == statuses.count(200), "the refused call recorded nothing"


def test_a_buyer_who_hangs_up_stops_the_generation_and_pays_only_what_was_generated(
        buyer, slow_model, web, worker):
    client = sdk(buyer, web)
    client.completions.create(model=SLOW, prompt="warm up", max_tokens=2)
    with client.chat.completions.with_streaming_response.create(
            model=SLOW, messages=MESSAGES, temperature=0, max_tokens=1500, stream=True) as response:
        request_id = response.headers["X-Modelbay-Request-Id"]
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
    # The connection is closed here, mid-generation.
    deadline = time.monotonic() + 30
    while not UsageEvent.objects.filter(request_id=request_id).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    event = UsageEvent.objects.get(request_id=request_id)
    assert 1 <= event.output_tokens < 1000, "stopped early, billed for the tokens it generated"
    assert UsageEvent.objects.filter(organization=buyer.organization).count() == 2


def test_refusals_come_in_openais_shape_and_the_sdk_raises_its_own_errors(vendor, buyer, chat_model, web, worker):
    client = sdk(buyer, web)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="vendor-co.nothing", messages=MESSAGES)
    assert missing.value.body["type"] == "invalid_request_error" and "vendor-co.nothing" in missing.value.message
    reader = make_persona("reader-co", scopes=["catalog:read"])
    subscribe(reader, chat_model, "payg")
    with pytest.raises(openai.PermissionDeniedError):
        sdk(reader, web).chat.completions.create(model=CHAT, messages=MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{web.base}/v1", api_key="mb_live_nope", max_retries=0).models.list()
    bad = [
        dict(messages=MESSAGES, max_tokens=10**6, expect="maximum context length", param="max_tokens"),
        dict(messages=[{"role": "user", "content": "fox " * 3000}], expect="maximum context length",
             param="messages"),
        dict(messages=MESSAGES, n=2, expect="Only n=1", param="n"),
        dict(messages=MESSAGES, response_format={"type": "json_object"}, expect="structured output is not offered",
             param="response_format"),
        dict(messages=MESSAGES, logit_bias={"4096": 5}, expect="token ids are 0 to 511", param="logit_bias"),
        dict(messages=[{"role": "user"}], expect="content", param="messages[0].content"),
        dict(messages=MESSAGES, extra_body={"mirostat": 2}, expect="Unknown parameter 'mirostat'", param="mirostat"),
    ]
    for case in bad:
        expect, param = case.pop("expect"), case.pop("param")
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model=CHAT, **case)
        assert expect in refused.value.message and refused.value.body["param"] == param
    assert not UsageEvent.objects.exists(), "no refusal is billed"


CANARY = "CANARY-llm-93b1-DO-NOT-STORE"


def test_a_canary_in_a_prompt_is_in_no_table_log_or_redis_key_afterwards(buyer, chat_model, web, worker):
    client = sdk(buyer, web)
    client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": CANARY}], max_tokens=4)
    list(client.completions.create(model=CHAT, prompt=CANARY, max_tokens=4, stream=True))
    time.sleep(0.5)
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields]
        for row in model.objects.all().values_list(*fields):
            assert CANARY not in repr(row), f"{model.__name__} holds the canary"
    client_redis = get_redis()
    for key in client_redis.scan_iter(count=1000):
        kind = client_redis.type(key)
        if kind == b"string":
            assert CANARY.encode() not in (client_redis.get(key) or b""), key
        elif kind == b"list":
            assert not any(CANARY.encode() in item for item in client_redis.lrange(key, 0, -1)), key
        elif kind == b"hash":
            assert not any(CANARY.encode() in v for v in client_redis.hvals(key)), key
    assert CANARY not in web.output() and CANARY not in worker.output()


def test_many_open_streams_do_not_starve_ordinary_calls(buyer, slow_model, chat_model, web, worker):
    client = sdk(buyer, web)
    client.completions.create(model=SLOW, prompt="warm up", max_tokens=2)
    done = threading.Event()

    ended: list[int] = []
    errors: list[str] = []

    def hold_a_stream() -> None:
        try:
            for _ in sdk(buyer, web).completions.create(model=SLOW, prompt="Once", max_tokens=400, stream=True,
                                                             temperature=0):
                if done.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 - reported in the assertion below
            errors.append(repr(exc))
        finally:
            ended.append(1)

    streams = [threading.Thread(target=hold_a_stream, daemon=True) for _ in range(64)]
    for stream in streams:
        stream.start()
    time.sleep(1.0)
    try:
        ids = {m.id for m in client.models.list()}
        answer = client.completions.create(model=CHAT, prompt="Hi", max_tokens=3)
        still_open = 64 - len(ended)
    finally:
        done.set()
    assert CHAT in ids and answer.usage.completion_tokens >= 1
    assert still_open == 64, f"only {still_open} streams were open while the ordinary calls were answered: {errors}"


def test_the_tokens_of_sdk_calls_reach_stripes_two_meters_through_the_stand_in(vendor, buyer, stripe_standin, web,
                                                                                 worker, fresh_serving_caches):
    from billing.models import StripeCustomer, StripePrice
    from billing.services.subscription_sync import stripe_objects_sync
    from billing.services.usage_sync import usage_sync
    from marketplace.models import Plan
    from tests.billing.stripe_support import later, meter_total
    from tests.billing.stripe_support import subscribe as subscribe_through_stripe

    model = published_llm(vendor.organization, "metered")
    subscribe_through_stripe(buyer, model, Plan.objects.get(model=model))
    stripe_objects_sync()
    client = sdk(buyer, web)
    usages = [client.chat.completions.create(model="vendor-co.metered", max_tokens=4 + i,
                                             messages=[{"role": "user", "content": f"count {i}"}]).usage
              for i in range(3)]
    stream = client.chat.completions.create(model="vendor-co.metered", max_tokens=6, stream=True,
                                            stream_options={"include_usage": True}, messages=MESSAGES)
    usages.append([chunk for chunk in stream][-1].usage)

    assert usage_sync(now=later())["failed"] == 0
    customer = StripeCustomer.objects.get(organization=buyer.organization).stripe_id
    meters = {p.dimension: meter_total(stripe_standin, p.event_name, customer)
              for p in StripePrice.objects.filter(plan__model=model)}
    assert meters == {"input_tokens": sum(u.prompt_tokens for u in usages),
                      "output_tokens": sum(u.completion_tokens for u in usages)}


def test_a_generation_longer_than_the_orphan_grace_is_not_ended_by_its_own_workers_crash_watch(
        buyer, slow_model, web, worker):
    started = time.monotonic()
    chunks = list(sdk(buyer, web).completions.create(model=SLOW, prompt="Once", max_tokens=1900, temperature=0,
                                                     stream=True, stream_options={"include_usage": True}))
    elapsed = time.monotonic() - started
    # Longer than the grace plus two sweep periods: at least one sweep saw the mark past its grace.
    # (1900 tokens take about 4 s on a fast machine, well past the 1.5 s this needs.)
    assert elapsed > ORPHAN_GRACE + 2 * SWEEP, f"the generation took {elapsed:.1f}s: too short to prove anything"
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].usage.completion_tokens == UsageEvent.objects.get(organization=buyer.organization).output_tokens
