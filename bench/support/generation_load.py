"""bench/generation.py's load generator: one request made four ways (the platform's SSE stream,
the generation lane alone, onnxruntime_genai and the platform's Engine in-process), closed loops of
streams sending them back to back, the TTFT probes, and the CPU each process spends per token."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable

from bench.support.generation_setup import NAME
from bench.support.load import cpu_spent, pct

# The prompts, as token ids and as chat text; bench/generation.py fills them from publish()
# before any client runs (identical across variants: request i sends prompt i).
IDS: list[list[int]] = []
TEXTS: list[str] = []


# ------------------------------------------------------------------ one request, three ways

def platform_client(port: int, secret: str, new: int) -> Callable[[], Callable[[int], dict]]:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    def make() -> Callable[[int], dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        idle_since = [time.perf_counter()]

        def call(i: int) -> dict:
            if time.perf_counter() - idle_since[0] > 1.0:
                conn.close()  # gunicorn closes a connection idle for 2 s: reconnect rather than race it
            body = json.dumps({"model": NAME, "messages": [{"role": "user", "content": TEXTS[i]}], "stream": True,
                               "stream_options": {"include_usage": True}, "temperature": 0, "max_tokens": new})
            start = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {response.read()[:300]!r}")
            first_chunk = first = last = None
            chunks, usage, seen = 0, None, []
            while line := response.readline():
                seen.append(line)
                if not line.startswith(b"data: "):
                    continue
                now = time.perf_counter()
                data = line[6:].strip()
                if data == b"[DONE]":
                    break
                first_chunk = first_chunk or now
                payload = json.loads(data)
                usage = payload.get("usage") or usage
                if any(c.get("delta", {}).get("content") for c in payload.get("choices") or ()):
                    chunks += 1
                    first, last = first or now, now
            response.read()  # the chunked body's end: the connection is reused
            idle_since[0] = time.perf_counter()
            if usage is None or first is None:
                raise RuntimeError(f"a stream without content or usage: {b''.join(seen)[-600:]!r}")
            return {"start": start, "first": first, "last": last, "tokens": usage["completion_tokens"],
                    "chunks": chunks, "admitted": first_chunk - start}  # the role chunk: after the gateway

        return call

    return make


def lane_client(version, new: int) -> Callable[[], Callable[[int], dict]]:
    """The worker's side alone: the message the web would queue, pushed on the generation lane
    from here, its events read off Redis (no HTTP, key, reservation or SSE)."""
    import uuid

    from inference.serving.lanes import gen_lane, replies

    def make() -> Callable[[int], dict]:
        client = replies.blocking_redis()

        def call(i: int) -> dict:
            rid = f"bench-{uuid.uuid4().hex}"
            start = time.perf_counter()
            gen_lane.push(hardware_class=version.hardware_class, timeout=120, message={
                "rid": rid, "v": version.pk, "sha": version.onnx_sha256, "variant": "fp32", "ids": IDS[i],
                "max_tokens": new, "sampling": {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": None},
                "stop": [], "fairness": version.model.organization_id, "reply": gen_lane.out_key(rid)})
            first_event = first = last = None
            while True:
                popped = client.blpop([gen_lane.out_key(rid)], timeout=120)
                now = time.perf_counter()
                event = json.loads(popped[1]) if popped else {"t": "error", "error": "timeout"}
                if event.get("t") == "token":
                    first_event = first_event or now
                    if event["text"]:
                        first, last = first or now, now
                elif event.get("t") == "done":
                    return {"start": start, "first": first, "last": last, "tokens": event["completion_tokens"],
                            "first_event": first_event - start}
                else:
                    raise RuntimeError(str(event)[:200])

        return call

    return make


def og_client(og, model, new: int) -> Callable[[], Callable[[int], dict]]:
    tokenizer = og.Tokenizer(model)

    def make() -> Callable[[int], dict]:
        def call(i: int) -> dict:
            start = time.perf_counter()
            params = og.GeneratorParams(model)
            params.set_search_options(do_sample=False, max_length=len(IDS[i]) + new)
            generator = og.Generator(model, params)
            stream = tokenizer.create_stream()
            generator.append_tokens(IDS[i])
            first, tokens = None, 0
            while not generator.is_done():
                generator.generate_next_token()
                stream.decode(int(generator.get_next_tokens()[0]))
                tokens += 1
                first = first or time.perf_counter()
            return {"start": start, "first": first, "last": time.perf_counter(), "tokens": tokens}

        return call

    return make


def engine_client(engine, new: int) -> Callable[[], Callable[[int], dict]]:
    from inference.runtime.generation import GenerationRequest

    def make() -> Callable[[int], dict]:
        def call(i: int) -> dict:
            stamps: list[float] = []
            finished: list = []

            def on_event(event) -> None:  # the engine thread: a timestamp, nothing else
                if event.kind == "token":
                    stamps.append(time.perf_counter())
                else:
                    finished.append(event)

            start = time.perf_counter()
            handle = engine.submit(GenerationRequest(prompt_ids=IDS[i], on_event=on_event, max_new_tokens=new,
                                                     temperature=0.0))
            handle.wait()
            return {"start": start, "first": stamps[0], "last": stamps[-1], "tokens": finished[0].completion_tokens}

        return call

    return make


# ------------------------------------------------------------------ load

def closed_loop(make: Callable[[], Callable[[int], dict]], streams: int, seconds: float) -> dict:
    """`streams` threads send requests back to back for `seconds` (at least one each)."""
    records: list[dict] = []
    errors: list[str] = []
    barrier = threading.Barrier(streams + 1)

    def stream(s: int) -> None:
        call = make()
        barrier.wait()
        end, k = time.perf_counter() + seconds, 0
        while True:
            try:
                records.append(call((s + k * streams) % len(IDS)))
            except Exception as exc:  # noqa: BLE001 - counted and shown, not fatal
                errors.append(f"{type(exc).__name__}: {exc}"[-300:])
            k += 1
            if time.perf_counter() >= end:
                return

    threads = [threading.Thread(target=stream, args=(s,)) for s in range(streams)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if not records:
        raise RuntimeError(f"every request failed: {errors[:3]}")
    ttft = sorted((r["first"] - r["start"]) * 1000 for r in records)
    rates = [(r["tokens"] - 1) / (r["last"] - r["first"]) for r in records if r["tokens"] > 1 and r["last"] > r["first"]]
    result = {"requests": len(records), "errors": len(errors), "error_sample": errors[:2],
              "tokens": sum(r["tokens"] for r in records), "ttft_ms": ttft,
              "ttft_p50_ms": pct(ttft, 0.5), "ttft_p99_ms": pct(ttft, 0.99),
              "stream_tps": statistics.median(rates) if rates else float("nan"),
              "total_tps": sum(r["tokens"] for r in records) / (max(r["last"] for r in records) - start)}
    if "first_event" in records[0]:
        result["first_event_p50_ms"] = statistics.median(r["first_event"] * 1000 for r in records)
    if "admitted" in records[0]:
        result["admitted_p50_ms"] = statistics.median(r["admitted"] * 1000 for r in records)
        result["chunks_per_token"] = sum(r["chunks"] for r in records) / max(1, result["tokens"])
    return result


def ttft_probes(calls: dict[str, Callable[[int], dict]], count: int) -> dict[str, list[dict]]:
    """One short request per variant, `count` times in turn (A B C A B C ...), one stream: TTFT
    pairs taken moments apart, so a machine whose load drifts biases no variant."""
    out: dict[str, list[dict]] = {variant: [] for variant in calls}
    order = list(calls)
    for k in range(count):
        for variant in order[k % len(order):] + order[:k % len(order)]:  # each variant leads in turn
            record = calls[variant](k % len(IDS))
            out[variant].append({"ttft_ms": (record["first"] - record["start"]) * 1000,
                                 **{key: record[key] * 1000 for key in ("admitted", "first_event") if key in record}})
    return out


def with_cpu(measure: Callable[[], dict], pids: dict[str, int]) -> dict:
    result, spent = cpu_spent(measure, pids)
    result["cpu_ms_per_token"] = {k: v / max(1, result["tokens"]) for k, v in spent.items()}
    return result
