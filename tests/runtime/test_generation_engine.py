"""The continuous-batching engine generates what onnxruntime_genai generates, token for token,
whatever else shares the batch; it samples reproducibly, stops, cancels and admits fairly.

onnxruntime_genai (og) is the reference and runs in these tests. Models are tiny random-weight
builds of tests/llm_models.py converted by the GenAI model builder once per session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from inference.runtime.generation import (
    Engine,
    FinishedEvent,
    GenerationRequest,
    SamplingParams,
    TokenEvent,
)
from inference.runtime.generation.engine import _chunk
from inference.runtime.generation.fairness import FairQueue
from inference.runtime.generation.folder import load_folder
from inference.runtime.generation.runner import Runner
from inference.runtime.generation.sampling import Sampler
from inference.runtime.generation.text import StopMatcher
from tests.llm_models import BOS, EOS, build_causal_lm

og = pytest.importorskip("onnxruntime_genai")

FAMILIES = ("llama", "qwen2", "phi3", "mistral")
WAIT = 120  # seconds: generous for a loaded 2-core machine; a hang fails instead of blocking


# --- fixtures: GenAI folders built once per session, og as the reference ----------------------


@pytest.fixture(scope="session")
def genai_folder(tmp_path_factory):
    """``genai_folder(family, precision="fp32")``: the GenAI build of the tiny ``family`` model,
    built on first use with ``python -m onnxruntime_genai.models.builder``."""
    root = tmp_path_factory.mktemp("genai")
    built: dict[str, Path] = {}

    def get(family: str, precision: str = "fp32") -> Path:
        key = f"{family}-{precision}"
        if key not in built:
            source = build_causal_lm(family, root / "hf")
            out = root / key
            subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source),
                            "-o", str(out), "-p", precision, "-e", "cpu", "-c", str(root / "cache"),
                            "--extra_options", "hf_token=false"], check=True, capture_output=True)  # fmt: skip
            built[key] = out
        return built[key]

    return get


@pytest.fixture(scope="session")
def og_model(genai_folder):
    models: dict[Path, object] = {}

    def get(folder: Path):
        if folder not in models:
            models[folder] = og.Model(str(folder))
        return models[folder]

    return get


def og_greedy(model, ids: list[int], new: int, *, exact: bool) -> list[int]:
    """og's greedy tokens: exactly ``new`` (end-of-sequence held off) or up to ``new``."""
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=len(ids) + new, min_length=len(ids) + new if exact else 0)
    generator = og.Generator(model, params)
    generator.append_tokens(ids)
    tokens = []
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    return tokens


class Collector:
    """An on_event callback that keeps everything (cheap: a list append on the engine thread)."""

    def __init__(self, on_token=None, *, log: list | None = None, name: object = None) -> None:
        self.events: list[TokenEvent | FinishedEvent] = []
        self._on_token, self._log, self._name = on_token, log, name

    def __call__(self, event) -> None:
        self.events.append(event)
        if self._log is not None:
            self._log.append((self._name, event.kind))
        if self._on_token and event.kind == "token":
            self._on_token(self)

    @property
    def tokens(self) -> list[int]:
        return [e.token_id for e in self.events if e.kind == "token"]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if e.kind == "token")

    @property
    def finished(self) -> FinishedEvent:
        assert self.events and self.events[-1].kind == "finished", "the request has not finished"
        assert sum(e.kind == "finished" for e in self.events) == 1
        return self.events[-1]


def generate(engine: Engine, ids, **request) -> Collector:
    collector = Collector()
    request.setdefault("do_sample", False)
    handle = engine.submit(GenerationRequest(prompt_ids=ids, on_event=collector, **request))
    assert handle.wait(WAIT)
    return collector


def prompts_for(tokenizer) -> list[list[int]]:
    """Plain text, a chat rendering (the template puts the eos token mid-prompt), raw ids with
    eos (1) and pad (2) in the middle, and a one-token prompt."""
    chat = f"{BOS}<|user|>Hello there, who sells models?{EOS}<|assistant|>"
    ids = [tokenizer.encode(t).ids for t in ("The quick brown fox", "Modelbay sells inference on", chat)]
    assert 1 in ids[2][:-1], "the chat prompt should hold the eos id before its end"
    return [*ids, [0, 57, 1, 300, 2, 2, 41, 1, 99], [77]]


@pytest.fixture(scope="session")
def eos_cases(genai_folder, og_model):
    """``eos_cases(family)``: prompts whose og greedy output ends with end-of-sequence on its
    own within 60 tokens (random weights rarely do, so seeded random prompts are searched)."""
    found: dict[str, list[tuple[list[int], list[int]]]] = {}

    def get(family: str):
        if family not in found:
            model, cases = og_model(genai_folder(family)), []
            rng = np.random.default_rng(1234)
            for _ in range(600):
                ids = rng.integers(4, 512, int(rng.integers(2, 24))).tolist()
                out = og_greedy(model, ids, 60, exact=False)
                if out[-1] == 1 and len(out) >= 3:
                    cases.append((ids, out))
                    if len(cases) == 2:
                        break
            assert cases, f"no prompt ends on its own for {family}"
            found[family] = cases
        return found[family]

    return get


# --- parity with onnxruntime_genai -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_output_equals_onnxruntime_genai_token_for_token(family, genai_folder, og_model, eos_cases):
    folder = genai_folder(family)
    model = og_model(folder)
    with Engine(folder, max_batch=4) as engine:
        for ids in prompts_for(engine.folder.tokenizer):
            expected = og_greedy(model, ids, 40, exact=True)
            got = generate(engine, ids, max_new_tokens=40, min_new_tokens=40)
            assert got.tokens == expected, f"{family}: prompt {ids}"
            assert got.finished.reason == "length" and got.finished.completion_tokens == 40
            assert got.finished.prompt_tokens == len(ids)
        for ids, expected in eos_cases(family):
            got = generate(engine, ids, max_new_tokens=60)
            assert got.tokens == expected and expected[-1] == 1
            assert got.finished.reason == "stop" and got.finished.completion_tokens == len(expected)


@pytest.mark.slow
def test_the_int4_variant_generates_what_onnxruntime_genai_generates_with_it(genai_folder, og_model):
    folder = genai_folder("qwen2", "int4")
    model = og_model(folder)
    rng = np.random.default_rng(21)
    prompts = [rng.integers(4, 512, n).tolist() for n in (6, 30, 17, 45)]
    with Engine(folder, max_batch=4, prefill_chunk=16) as engine:
        collectors = [Collector() for _ in prompts]
        handles = [engine.submit(GenerationRequest(prompt_ids=ids, on_event=c, max_new_tokens=30, min_new_tokens=30,
                                                   do_sample=False))
                   for ids, c in zip(prompts, collectors, strict=True)]  # fmt: skip
        assert all(h.wait(WAIT) for h in handles)
    for ids, c in zip(prompts, collectors, strict=True):
        assert c.tokens == og_greedy(model, ids, 30, exact=True)


@pytest.mark.slow
def test_a_prompt_split_into_prefill_chunks_generates_what_one_prefill_does(genai_folder, og_model):
    folder = genai_folder("llama")
    ids = np.random.default_rng(5).integers(4, 512, 61).tolist()
    expected = og_greedy(og_model(folder), ids, 30, exact=True)
    # Chunk sizes that leave a lone last token (61 = 3 x 20 + 1) or split unevenly.
    for chunk in (2, 3, 20, 30, 60):
        with Engine(folder, max_batch=2, prefill_chunk=chunk) as engine:
            assert generate(engine, ids, max_new_tokens=30, min_new_tokens=30).tokens == expected, chunk


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_requests_joining_mid_generation_each_get_their_solo_greedy_output(family, genai_folder, og_model,
                                                                           eos_cases):  # fmt: skip
    folder = genai_folder(family)
    model = og_model(folder)
    rng = np.random.default_rng(7)
    lengths, news = [3, 9, 17, 33, 5, 60, 12, 40], [40, 12, 25, 8, 30, 20, 16, 35]
    cases = [(rng.integers(4, 512, n).tolist(), new, True) for n, new in zip(lengths, news, strict=True)]
    cases[6] = (eos_cases(family)[0][0], 60, False)  # one ends on its own end-of-sequence
    expected = [og_greedy(model, ids, new, exact=exact) for ids, new, exact in cases]
    log: list[tuple[int, str]] = []  # (request, event kind), in delivery order
    reached, resume = [threading.Event() for _ in cases], [threading.Event() for _ in cases]

    def on_token(i: int):
        def pause(c: Collector) -> None:
            # At its 4th token a request holds the engine thread (a test-only pause) until the
            # next requests were submitted: they join for certain while it is mid-generation.
            if len(c.tokens) == 4 and i in (0, 3):
                reached[i].set()
                resume[i].wait(WAIT)

        return pause

    collectors = [Collector(on_token(i), log=log, name=i) for i in range(len(cases))]
    # max_batch 4 < 8 requests: some wait for a free row; chunk 16: long prompts span turns.
    with Engine(folder, max_batch=4, prefill_chunk=16) as engine:
        handles = []

        def submit(i: int) -> None:
            ids, new, exact = cases[i]
            request = GenerationRequest(prompt_ids=ids, on_event=collectors[i], max_new_tokens=new,
                                        min_new_tokens=new if exact else 0, do_sample=False)  # fmt: skip
            handles.append(engine.submit(request))

        for i in (0, 1, 2):
            submit(i)
        assert reached[0].wait(WAIT)
        for i in (3, 4, 5):
            submit(i)
        resume[0].set()
        assert reached[3].wait(WAIT)
        for i in (6, 7):
            submit(i)
        resume[3].set()
        assert all(h.wait(WAIT) for h in handles)
    for i, (c, want) in enumerate(zip(collectors, expected, strict=True)):
        assert c.tokens == want, f"{family}: request {i} differs from its solo greedy output"
        assert c.finished.completion_tokens == len(want)
    # Joins really happened mid-generation: 3's and 6's first tokens each came between two
    # tokens of a request that was already generating.
    for late in (3, 6):
        first = log.index((late, "token"))
        assert any(log.index((j, "token")) < first < max(n for n, entry in enumerate(log) if entry == (j, "token"))
                   for j in range(late))  # fmt: skip


@pytest.mark.slow
def test_a_prompt_being_prefilled_keeps_its_cache_when_rows_below_it_finish(genai_folder, og_model):
    folder = genai_folder("llama")
    model = og_model(folder)
    short, long_ = [5, 6, 7], np.random.default_rng(3).integers(4, 512, 60).tolist()
    # Turn 1 prefills the short prompt (row 0) and 13 tokens of the long one (row 1); the decode
    # step ends the short request, so the half-prefilled long prompt moves to row 0.
    with Engine(folder, max_batch=2, prefill_chunk=16, start=False) as engine:
        first, second = Collector(), Collector()
        engine.submit(GenerationRequest(prompt_ids=short, on_event=first, max_new_tokens=2, do_sample=False))
        handle = engine.submit(GenerationRequest(prompt_ids=long_, on_event=second, max_new_tokens=20,
                                                 min_new_tokens=20, do_sample=False))  # fmt: skip
        engine.start()
        assert handle.wait(WAIT)
    assert first.finished.completion_tokens == 2
    assert second.tokens == og_greedy(model, long_, 20, exact=True)


@pytest.mark.slow
def test_a_graph_taking_position_ids_generates_what_onnxruntime_genai_generates(genai_folder, og_model, tmp_path):
    folder = with_position_ids(genai_folder("llama"), tmp_path / "positions")
    model = og_model(folder)
    rng = np.random.default_rng(11)
    prompts = [rng.integers(4, 512, n).tolist() for n in (4, 19, 37)]
    with Engine(folder, max_batch=3, prefill_chunk=8) as engine:
        assert engine.folder.config.position_ids == "position_ids"
        handles, collectors = [], []
        for ids in prompts:
            collectors.append(Collector())
            request = GenerationRequest(prompt_ids=ids, on_event=collectors[-1], max_new_tokens=25,
                                        min_new_tokens=25, do_sample=False)  # fmt: skip
            handles.append(engine.submit(request))
        assert all(h.wait(WAIT) for h in handles)
    for ids, c in zip(prompts, collectors, strict=True):
        assert c.tokens == og_greedy(model, ids, 25, exact=True)


def with_position_ids(source: Path, target: Path) -> Path:
    """A copy of a GenAI llama build whose rotary embedding runs outside the attention, fed by a
    ``position_ids`` input (how the builder emits graphs for targets without fused rotary)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shutil.copytree(source, target)
    model = onnx.load(str(target / "model.onnx"))
    config = json.loads((target / "genai_config.json").read_text())
    decoder = config["model"]["decoder"]
    heads, kv, size = decoder["num_attention_heads"], decoder["num_key_value_heads"], decoder["head_size"]
    graph = model.graph
    graph.input.append(helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "sequence"]))
    graph.initializer.append(numpy_helper.from_array(np.array([heads * size, kv * size, kv * size]), "qkv_sizes"))
    nodes = []
    for node in graph.node:
        if node.op_type != "GroupQueryAttention":
            nodes.append(node)
            continue
        q, k, v = (f"{node.name}/{x}" for x in "qkv")
        nodes.append(helper.make_node("Split", [node.input[0], "qkv_sizes"], [q, k, v], axis=-1))
        for x in (q, k):
            nodes.append(helper.make_node("RotaryEmbedding", [x, "position_ids", node.input[7], node.input[8]],
                                          [f"{x}/rot"], domain="com.microsoft", interleaved=0))  # fmt: skip
        inputs = [f"{q}/rot", f"{k}/rot", v, *node.input[3:7], "", "", *node.input[9:]]
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute} | {"do_rotary": 0}
        nodes.append(helper.make_node("GroupQueryAttention", inputs, list(node.output), name=node.name,
                                      domain="com.microsoft", **attributes))  # fmt: skip
    del graph.node[:]
    graph.node.extend(nodes)
    (target / "model.onnx.data").unlink()
    onnx.save(model, str(target / "model.onnx"), save_as_external_data=True, location="model.onnx.data")
    decoder["inputs"]["position_ids"] = "position_ids"
    (target / "genai_config.json").write_text(json.dumps(config))
    return target


def test_prefill_chunks_never_hand_the_model_a_lone_token_after_the_first():
    for prompt in range(1, 40):
        for budget in range(2, 12):
            done, chunks = 0, []
            while done < prompt:
                take = _chunk(done, prompt - done, budget)
                assert take <= budget + 1
                if take:
                    chunks.append(take)
                    done += take
            assert all(c >= 2 for c in chunks[1:]), (prompt, budget, chunks)


@pytest.mark.slow
def test_chunked_prefill_and_batched_decode_give_bitwise_the_logits_of_a_request_alone(genai_folder):
    """What the engine's exactness rests on (runner.py): a row's logits do not depend on the
    other rows of a decode step nor on how its prompt was split into chunks of two or more."""
    folder = load_folder(genai_folder("mistral"))
    rng = np.random.default_rng(8)
    prompts = [rng.integers(4, 512, n) for n in (40, 7, 23, 61)]
    steps = rng.integers(4, 512, (6, len(prompts)))
    batched, alone = (Runner(folder, max_batch=4, max_length=128, max_prefill=64) for _ in range(2))
    for slot, ids in enumerate(prompts):
        done = 0
        while done < len(ids):  # chunks as a 9-token budget cuts them
            take = _chunk(done, len(ids) - done, 9)
            last = batched.prefill(slot, ids[done : done + take], done).copy()
            done += take
        assert np.array_equal(last, alone.prefill(0, ids, 0)), "chunked prefill changed the logits"
    lengths = np.array([len(p) for p in prompts])
    rows = [batched.decode(tokens, lengths + n).copy() for n, tokens in enumerate(steps)]
    for slot, ids in enumerate(prompts):
        alone.prefill(0, ids, 0)
        for n, tokens in enumerate(steps):
            solo = alone.decode(tokens[slot : slot + 1], lengths[slot : slot + 1] + n)
            assert np.array_equal(rows[n][slot], solo[0]), f"row {slot} step {n} depends on its batch"


# --- sampling ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_seed_reproduces_its_tokens_alone_and_batched_with_others(genai_folder):
    folder = genai_folder("qwen2")
    ids = [0, 40, 41, 42, 43]
    params = {"temperature": 0.9, "top_k": 40, "top_p": 0.95, "seed": 2024, "do_sample": True}
    with Engine(folder, max_batch=6, prefill_chunk=8) as engine:
        alone = generate(engine, ids, max_new_tokens=40, min_new_tokens=40, **params).tokens
        others = [Collector() for _ in range(5)]
        for n, c in enumerate(others):
            engine.submit(GenerationRequest(prompt_ids=[0, *range(100 + n, 130 + 7 * n)], on_event=c,
                                            max_new_tokens=30 + n, temperature=1.2, seed=n))  # fmt: skip
        batched = generate(engine, ids, max_new_tokens=40, min_new_tokens=40, **params).tokens
        reseeded = generate(engine, ids, max_new_tokens=40, min_new_tokens=40,
                            **(params | {"seed": 2025})).tokens
    assert batched == alone
    assert reseeded != alone  # the seed, not something else, fixes the draw
    assert alone != generate_greedy_tokens(folder, ids, 40)  # and it did sample


def generate_greedy_tokens(folder: Path, ids: list[int], new: int) -> list[int]:
    with Engine(folder, max_batch=1) as engine:
        return generate(engine, ids, max_new_tokens=new, min_new_tokens=new).tokens


@pytest.mark.slow
def test_top_k_one_samples_the_greedy_tokens(genai_folder):
    folder = genai_folder("phi3")
    ids = [0, 300, 301, 302]
    with Engine(folder, max_batch=2) as engine:
        top1 = generate(engine, ids, max_new_tokens=30, min_new_tokens=30,
                        temperature=1.5, top_k=1, seed=9, do_sample=True).tokens  # fmt: skip
        greedy = generate(engine, ids, max_new_tokens=30, min_new_tokens=30).tokens
    assert top1 == greedy


@pytest.mark.slow
def test_a_logit_bias_forces_or_forbids_tokens_and_a_token_outside_the_vocabulary_is_refused():
    from tests.llm_serving import genai_folder as built

    ids = [0, 300, 301, 302, 303]
    with Engine(built("llama"), max_batch=2) as engine:
        plain = generate(engine, ids, max_new_tokens=12, min_new_tokens=12).tokens
        assert generate(engine, ids, max_new_tokens=12, logit_bias=[(77, 100)]).tokens == [77] * 12
        banned = generate(engine, ids, max_new_tokens=12, min_new_tokens=12,
                          logit_bias=[(t, -100) for t in set(plain)]).tokens  # fmt: skip
        assert not set(banned) & set(plain)
        with pytest.raises(ValueError, match="logit_bias names token 512"):
            engine.submit(GenerationRequest(prompt_ids=ids, on_event=Collector(), logit_bias=[(512, 1)]))


@pytest.mark.slow
def test_penalties_give_what_onnxruntime_genai_gives_on_the_penalised_logits():
    from tests.llm_serving import genai_folder as built
    from tests.llm_serving import greedy_tokens

    ids, penalties = [0, 300, 301, 302, 303], {"presence_penalty": 0.8, "frequency_penalty": 1.2}
    expected = greedy_tokens(ids, max_tokens=30, **penalties)
    with Engine(built("llama"), max_batch=2) as engine:
        assert generate(engine, ids, max_new_tokens=30, **penalties).tokens == expected
    assert expected != greedy_tokens(ids, max_tokens=30)  # the penalties changed the tokens


def test_penalties_lower_the_logits_of_tokens_already_generated_as_openai_defines_them():
    def picks(n: int, **penalty) -> list[int]:
        sampler = Sampler(SamplingParams(temperature=0, **penalty))
        return [sampler(np.array([2.0, 1.9, 0.0], np.float32)) for _ in range(n)]

    assert picks(4) == [0, 0, 0, 0]
    assert picks(4, frequency_penalty=0.5) == [0, 1, 0, 1]  # minus 0.5 per time generated
    assert picks(3, presence_penalty=0.15) == [0, 1, 0]  # minus 0.15 once generated at all
    assert picks(2, logit_bias=((2, 2.5),)) == [2, 2]  # 0.0 + 2.5 beats 2.0
    assert picks(2, logit_bias=((0, -100), (1, -100))) == [2, 2]


def draws(logits: list[float], n: int = 4000, **params) -> np.ndarray:
    sampler = Sampler(SamplingParams(seed=0, **params))
    row = np.array(logits, np.float32)
    return np.bincount([sampler(row) for _ in range(n)], minlength=len(logits)) / n


def test_sampling_follows_the_softmax_of_the_tempered_logits():
    logits = np.log([0.5, 0.3, 0.15, 0.05])
    assert np.abs(draws(logits) - [0.5, 0.3, 0.15, 0.05]).max() < 0.03
    tempered = np.exp(logits / 2) / np.exp(logits / 2).sum()
    assert np.abs(draws(logits, temperature=2.0) - tempered).max() < 0.03
    assert draws(logits, temperature=0.05)[0] > 0.99


def test_top_k_and_top_p_cut_the_candidates():
    logits = np.log([0.4, 0.3, 0.2, 0.1])
    top2 = draws(logits, top_k=2)
    assert top2[2:].sum() == 0 and abs(top2[0] - 0.4 / 0.7) < 0.03
    nucleus = draws(logits, top_p=0.5)  # 0.4 < 0.5 <= 0.4 + 0.3: the two most likely
    assert nucleus[2:].sum() == 0 and nucleus[1] > 0.3
    assert draws(logits, top_p=0.35)[0] == 1.0  # the most likely token alone reaches 0.35


def test_a_wide_nucleus_over_a_large_vocabulary_is_found_beyond_the_first_guess():
    flat = np.zeros(10_000, np.float32)  # all equal: the nucleus is the 9,000 lowest ids
    picked = draws(flat.tolist(), n=3000, top_p=0.9)
    assert picked[9000:].sum() == 0 and picked[4000:9000].sum() > 0.4


@pytest.mark.parametrize(("params", "message"), [
    ({"temperature": -0.1}, "temperature must be a finite number >= 0"),
    ({"temperature": float("nan")}, "temperature must be a finite number >= 0"),
    ({"top_p": 0.0}, r"top_p must be a number in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be a number in \(0, 1\]"),
    ({"top_k": -1}, "top_k must be an integer >= 0"),
    ({"top_k": 2.5}, "top_k must be an integer >= 0"),
    ({"seed": -3}, "seed must be a non-negative integer"),
])  # fmt: skip
def test_invalid_sampling_parameters_are_refused_at_submit_with_a_clear_message(llama_engine, params, message):
    with pytest.raises(ValueError, match=message):
        llama_engine.submit(GenerationRequest(prompt_ids=[0, 5], on_event=Collector(), **params))


# --- stops, cancellation, limits ---------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_engine(genai_folder):
    with Engine(genai_folder("llama"), max_batch=4, prefill_chunk=32) as engine:
        yield engine


def test_streamed_text_is_the_decoded_completion(llama_engine):
    tokenizer = llama_engine.folder.tokenizer
    for ids in prompts_for(tokenizer):
        got = generate(llama_engine, ids, max_new_tokens=50, min_new_tokens=50)
        assert got.text == tokenizer.decode(got.tokens, skip_special_tokens=True)


def test_a_stop_string_ends_generation_and_is_never_emitted(llama_engine):
    ids = llama_engine.folder.tokenizer.encode("Vendors upload models").ids
    full = generate(llama_engine, ids, max_new_tokens=60, min_new_tokens=60)
    # A two-letter piece of the greedy text, past its first few characters, as the stop string.
    start = next(i for i in range(8, len(full.text) - 1) if full.text[i : i + 2].isalpha())
    stop = full.text[start : start + 2]
    got = generate(llama_engine, ids, max_new_tokens=60, min_new_tokens=60, stop=["\x00never", stop])
    assert got.finished.reason == "stop"
    assert got.text == full.text[: full.text.index(stop)]
    assert all(stop not in e.text for e in got.events if e.kind == "token")
    assert got.tokens == full.tokens[: len(got.tokens)] and len(got.tokens) < 60
    assert got.finished.completion_tokens == len(got.tokens)


def test_text_held_back_for_a_stop_string_that_never_completes_is_released(llama_engine):
    ids = llama_engine.folder.tokenizer.encode("Hello world, this is").ids
    full = generate(llama_engine, ids, max_new_tokens=40, min_new_tokens=40)
    stop = full.text[-3:] + "\x00"  # its start is the very end of the text: held back, then released
    got = generate(llama_engine, ids, max_new_tokens=40, min_new_tokens=40, stop=[stop])
    assert got.finished.reason == "length" and got.text == full.text


def test_stop_strings_split_across_tokens_are_caught():
    matcher = StopMatcher(["world", "xyz"])
    assert matcher.push("hello wo") == ("hello ", False)
    assert matcher.push("r") == ("", False)
    assert matcher.push("ld and more") == ("", True)
    matcher = StopMatcher(["xyz"])
    assert [matcher.push(d) for d in ("ax", "y", "b")] == [("a", False), ("", False), ("xyb", False)]
    assert matcher.flush() == ""


def test_max_new_tokens_ends_with_length(llama_engine):
    got = generate(llama_engine, [0, 5, 6], max_new_tokens=7, min_new_tokens=7)
    assert got.finished.reason == "length" and len(got.tokens) == 7 == got.finished.completion_tokens


def test_a_prompt_at_the_context_length_is_refused_and_one_just_under_it_gets_one_token(llama_engine, og_model,
                                                                                       genai_folder):  # fmt: skip
    context = llama_engine.folder.config.context_length
    with pytest.raises(ValueError, match=f"at most {context} tokens in total"):
        llama_engine.submit(GenerationRequest(prompt_ids=[5] * context, on_event=Collector()))
    ids = np.random.default_rng(2).integers(4, 512, context - 1).tolist()
    got = generate(llama_engine, ids, max_new_tokens=10)
    assert got.finished.reason == "length" and len(got.tokens) == 1
    assert got.tokens == og_greedy(og_model(genai_folder("llama")), ids, 1, exact=False)


@pytest.mark.parametrize(("request_fields", "message"), [
    ({"prompt_ids": []}, "non-empty"),
    ({"prompt_ids": [5, 512]}, r"token ids in \[0, 512\)"),
    ({"prompt_ids": [5, -1]}, r"token ids in \[0, 512\)"),
    ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
    ({"max_new_tokens": 5, "min_new_tokens": 6}, "min_new_tokens must be an integer between 0 and max_new_tokens"),
    ({"stop": "x"}, "stop must be a list of non-empty strings"),
    ({"stop": [""]}, "stop must be a list of non-empty strings"),
])  # fmt: skip
def test_requests_that_cannot_run_are_refused_at_submit(llama_engine, request_fields, message):
    fields = {"prompt_ids": [5, 6], "on_event": Collector()} | request_fields
    with pytest.raises(ValueError, match=message):
        llama_engine.submit(GenerationRequest(**fields))


def test_cancel_stops_within_a_step_and_reports_the_tokens_so_far(genai_folder, og_model):
    folder = genai_folder("llama")
    ids = [[0, 70, 71], [0, 80, 81, 82], [0, 90]]
    expected = [og_greedy(og_model(folder), x, 120, exact=True) for x in ids]
    started = threading.Event()

    def slow(c: Collector) -> None:
        # 5 ms per token (on the engine thread): the cancel surely lands mid-generation, even on
        # a loaded machine, while it still races the running steps.
        time.sleep(0.005)
        if len(c.tokens) == 5:
            started.set()

    collectors = [Collector(), Collector(slow), Collector()]
    with Engine(folder, max_batch=3) as engine:
        handles = [engine.submit(GenerationRequest(prompt_ids=x, on_event=c, max_new_tokens=120,
                                                   min_new_tokens=120, do_sample=False))
                   for x, c in zip(ids, collectors, strict=True)]  # fmt: skip
        assert started.wait(WAIT)
        handles[1].cancel()
        at_cancel = len(collectors[1].tokens)
        assert all(h.wait(WAIT) for h in handles)
        handles[1].cancel()  # cancelling a finished request does nothing
    cancelled = collectors[1]
    assert cancelled.finished.reason == "cancelled"
    assert len(cancelled.tokens) - at_cancel <= 1  # at most the step that was already running
    assert cancelled.finished.completion_tokens == len(cancelled.tokens) < 120
    assert cancelled.tokens == expected[1][: len(cancelled.tokens)]
    # The rows around it were compacted and kept generating their own output.
    assert collectors[0].tokens == expected[0] and collectors[2].tokens == expected[2]


def test_a_waiting_request_can_be_cancelled_before_it_starts(genai_folder):
    with Engine(genai_folder("llama"), max_batch=1, start=False) as engine:
        running, waiting = Collector(), Collector()
        first = engine.submit(GenerationRequest(prompt_ids=[0, 5], on_event=running, max_new_tokens=5,
                                                min_new_tokens=5))  # fmt: skip
        second = engine.submit(GenerationRequest(prompt_ids=[0, 6], on_event=waiting, max_new_tokens=5))
        second.cancel()
        engine.start()
        assert first.wait(WAIT) and second.wait(WAIT)
    assert waiting.events == [FinishedEvent("cancelled", 2, 0)]
    assert running.finished.completion_tokens == 5


def test_waiting_requests_are_admitted_round_robin_across_fairness_keys(genai_folder):
    order: list[str] = []

    def note(name: str):
        def on_event(event) -> None:
            if event.kind == "token" and name not in order:
                order.append(name)

        return on_event

    with Engine(genai_folder("llama"), max_batch=2, start=False) as engine:
        handles = [engine.submit(GenerationRequest(prompt_ids=[0, 10 + n], on_event=note(f"{key}{n}"),
                                                   max_new_tokens=3, min_new_tokens=3, do_sample=False,
                                                   fairness_key=key))
                   for key in ("acme", "globex") for n in (1, 2, 3)]  # fmt: skip
        engine.start()
        assert all(h.wait(WAIT) for h in handles)
    assert order == ["acme1", "globex1", "acme2", "globex2", "acme3", "globex3"]


def test_the_fair_queue_takes_keys_in_turn_and_a_new_key_joins_at_the_back():
    queue: FairQueue[str] = FairQueue()
    for item in ("a1", "a2", "a3", "b1"):
        queue.push(item[0], item)
    assert queue.pop() == "a1"
    queue.push("c", "c1")
    assert [queue.pop() for _ in range(4)] == ["b1", "a2", "c1", "a3"]
    assert len(queue) == 0


def test_a_callback_that_raises_ends_only_its_own_request(llama_engine):
    def broken(event) -> None:
        if event.kind == "token":
            raise RuntimeError("client went away")

    finished: list[FinishedEvent] = []
    handle = llama_engine.submit(GenerationRequest(prompt_ids=[0, 5],
                                                   on_event=lambda e: broken(e) or finished.append(e),
                                                   max_new_tokens=5, do_sample=False))  # fmt: skip
    assert handle.wait(WAIT)
    assert finished[0].reason == "error" and "on_event raised RuntimeError" in finished[0].error
    assert generate(llama_engine, [0, 5], max_new_tokens=5).finished.reason == "length"


def test_closing_the_engine_finishes_every_open_request_and_refuses_new_ones(genai_folder):
    engine = Engine(genai_folder("llama"), max_batch=1)
    started = threading.Event()
    running, waiting = Collector(lambda c: time.sleep(0.005) or started.set()), Collector()  # 2 s for 400 tokens
    engine.submit(GenerationRequest(prompt_ids=[0, 5], on_event=running, max_new_tokens=400,
                                    min_new_tokens=400, do_sample=False))  # fmt: skip
    engine.submit(GenerationRequest(prompt_ids=[0, 6], on_event=waiting, max_new_tokens=5, do_sample=False))
    assert started.wait(WAIT)
    engine.close()
    assert running.finished.reason == waiting.finished.reason == "error"
    assert "closed" in running.finished.error and running.finished.completion_tokens == len(running.tokens)
    with pytest.raises(RuntimeError, match="closed"):
        engine.submit(GenerationRequest(prompt_ids=[0, 5], on_event=Collector()))


def test_memory_estimate_counts_weights_and_the_preallocated_cache(genai_folder):
    folder = genai_folder("llama")
    weights = sum(p.stat().st_size for p in folder.glob("model.onnx*"))
    with Engine(folder, max_batch=4) as big, Engine(folder, max_batch=4, max_length=64) as small:
        cfg = big.folder.config
        cache = 2 * cfg.layers * 4 * cfg.kv_heads * cfg.context_length * cfg.head_size * 4
        assert big.memory_bytes() >= weights + cache
        assert big.memory_bytes() - small.memory_bytes() >= cache * (1 - 64 / cfg.context_length)
