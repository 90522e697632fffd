"""Language-model generation inside the inference worker (the generation lane's consumer side).

    lane thread:    BRPOP gen:lane:<hw> -> running mark -> the version's Engine (loaded on first use)
    engine thread:  continuous batching (runtime/generation): every admitted request advances each
                    step; its events go to the publisher
    publisher:      one pipeline per batch of events: RPUSH gen:out:<id>, EXPIRE; the final event
                    also clears the running mark
    cancel watch:   every 100 ms, one MGET of gen:cancel:<id> for the requests in flight

Models: a version's GenAI folder (fp32, or its int4 variant) is decrypted into a private temporary
directory and opened once per worker; engines are cached by (version, variant, artifact sha) under
LLM_MEMORY_BYTES, the least recently used idle one unloaded first (its directory deleted).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings

from inference.serving.lanes import gen_lane, replies
from inference.serving.workers import quarantine

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    engine: object
    folder: Path
    bytes: int
    active: set[str] = field(default_factory=set)


class Models:
    """Engines by (version id, variant, sha), least recently used first."""

    def __init__(self, *, budget_bytes: int, max_batch: int) -> None:
        self.budget_bytes = budget_bytes
        self.max_batch = max_batch
        self._loaded: OrderedDict[tuple, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple[int, str, str]) -> Loaded:
        with self._lock:
            found = self._loaded.get(key)
            if found is not None:
                self._loaded.move_to_end(key)
                return found
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per model; other models keep serving meanwhile
            with self._lock:
                if key in self._loaded:
                    return self._loaded[key]
            loaded = self._load(key)
            with self._lock:
                self._loaded[key] = loaded
                self._evict()
            return loaded

    def _load(self, key: tuple[int, str, str]) -> Loaded:
        from inference.runtime.generation.engine import Engine
        from marketplace.artifacts import artifact_export_to
        from marketplace.models import ModelVersion

        version_id, variant, sha = key
        version = ModelVersion.objects.select_related("model__organization").get(pk=version_id)
        name, expected = ((version.int4_artifact, version.int4_sha256) if variant == "int4"
                          else (version.onnx_artifact, version.onnx_sha256))
        if expected != sha:
            raise LookupError(f"version {version_id} {variant} artifact changed; refusing a stale request")
        folder = Path(tempfile.mkdtemp(prefix=f"mb-llm-{version_id}-{variant}-"))  # 0700: decrypted weights
        try:
            bundle = folder / "bundle.zip"
            artifact_export_to(organization=version.model.organization, name=name, path=bundle)
            with zipfile.ZipFile(bundle) as zf:  # our own bundle, authenticated by AES-GCM
                zf.extractall(folder / "model")
            bundle.unlink()
            engine = Engine(folder / "model", max_batch=self.max_batch)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        size = engine.memory_bytes()  # weights, KV buffers and activations, worst case
        log.info("loaded language model %s (%s): %.0f MB", version_id, variant, size / 2**20)
        return Loaded(engine=engine, folder=folder, bytes=size)

    def _evict(self) -> None:
        total = sum(m.bytes for m in self._loaded.values())
        for key in list(self._loaded):
            if total <= self.budget_bytes or len(self._loaded) == 1:
                return
            loaded = self._loaded[key]
            if loaded.active:
                continue
            del self._loaded[key]
            total -= loaded.bytes
            loaded.engine.close()
            shutil.rmtree(loaded.folder, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            for loaded in self._loaded.values():
                loaded.engine.close()
                shutil.rmtree(loaded.folder, ignore_errors=True)
            self._loaded.clear()


class Publisher:
    """Events to Redis in batches: the engine thread only appends to a queue."""

    def __init__(self, client_factory) -> None:
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.client_factory = client_factory
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gen-publisher", daemon=True)

    def put(self, request_id: str, event: dict, *, last: bool = False) -> None:
        self.events.put((request_id, json.dumps(event, separators=(",", ":")), last))

    def _run(self) -> None:
        client = self.client_factory()
        while not self.stopping.is_set():
            try:
                batch = [self.events.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < 512:
                try:
                    batch.append(self.events.get_nowait())
                except queue.Empty:
                    break
            self._send(client, batch)

    def _send(self, client: redis.Redis, batch: list) -> None:
        for attempt in range(5):
            try:
                pipe = client.pipeline(transaction=False)
                for request_id, event, last in batch:
                    key = gen_lane.out_key(request_id)
                    pipe.rpush(key, event)
                    pipe.expire(key, gen_lane.OUT_TTL_SECONDS)
                    if last:
                        pipe.hdel(quarantine.running_key(), request_id)
                pipe.execute()
                return
            except redis.RedisError as exc:
                log.warning("generation events could not be sent (%s); retrying", type(exc).__name__)
                time.sleep(0.1 * 2**attempt)
        log.error("dropped %s generation events after retries; their callers time out, billed for what "
                  "they received", len(batch))


class Generation:
    """The worker's generation service: lane threads, engines, publisher, cancel watch."""

    def __init__(self, *, hardware_classes: list[str], threads: int = 2, active: set[str] | None = None) -> None:
        self.lanes = [gen_lane.lane_key(h) for h in hardware_classes]
        # The worker's set of request ids it is running, which its crash watch reads: a generation
        # (loading its model included) may take minutes, and a mark not in it would be settled as
        # an orphan after INFERENCE_ORPHAN_GRACE_SECONDS, ending a healthy stream with a 503.
        self.active = active if active is not None else set()
        self.models = Models(budget_bytes=settings.LLM_MEMORY_BYTES, max_batch=settings.LLM_MAX_BATCH)
        self.publisher = Publisher(replies.worker_redis)
        self.handles: dict[str, object] = {}
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._consume, name=f"gen-lane-{i}", daemon=True)
                        for i in range(threads)]
        self.threads.append(threading.Thread(target=self._watch_cancels, name="gen-cancels", daemon=True))

    def start(self) -> None:
        self.publisher.thread.start()
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for handle in list(self.handles.values()):
            handle.cancel()
        for thread in self.threads:
            thread.join(5)
        self.publisher.stopping.set()
        self.publisher.thread.join(5)
        self.models.close()

    def _consume(self) -> None:
        client = replies.worker_redis()
        for raw in replies.lane_messages(self.lanes, self.stopping, name="generation"):
            self._admit(client, json.loads(raw))

    def _admit(self, client: redis.Redis, message: dict) -> None:
        request_id = message["rid"]
        if message.get("deadline", float("inf")) < time.time():
            return  # the caller gave up waiting and was answered; nothing was billed
        mark = {"v": message["v"], "host": socket.gethostname(), "pid": os.getpid(), "t": time.time(),
                "reply": message["reply"], "llm": True}
        self.active.add(request_id)
        try:
            client.hset(quarantine.running_key(), request_id, json.dumps(mark))
            loaded = self.models.get((message["v"], message["variant"], message["sha"]))
        except Exception as exc:  # noqa: BLE001 - answered to the caller; never log prompts
            self.active.discard(request_id)
            log.error("generation %s could not start: %s", request_id, type(exc).__name__)
            self.publisher.put(request_id, {"t": "error", "status": 500, "code": "model_unavailable",
                                            "error": "the model could not be loaded; you were not billed"}, last=True)
            return
        self._submit(loaded, message)

    def _submit(self, loaded: Loaded, message: dict) -> None:
        from inference.runtime.generation.engine import GenerationRequest

        request_id = message["rid"]
        started = time.perf_counter()

        def on_event(event) -> None:  # the engine thread: only queue work here
            if event.kind == "token":
                self.publisher.put(request_id, {"t": "token", "text": event.text})
                return
            loaded.active.discard(request_id)
            self.active.discard(request_id)
            self.handles.pop(request_id, None)
            compute_ms = (time.perf_counter() - started) * 1000
            if event.reason == "error":
                self.publisher.put(request_id, {"t": "error", "status": 500, "code": "generation_failed",
                                                "error": event.error or "the generation failed"}, last=True)
                return
            self.publisher.put(request_id, {"t": "done", "reason": event.reason, "compute_ms": compute_ms,
                                            "prompt_tokens": event.prompt_tokens,
                                            "completion_tokens": event.completion_tokens}, last=True)

        sampling = message.get("sampling") or {}
        request = GenerationRequest(
            prompt_ids=message["ids"], max_new_tokens=message["max_tokens"], stop=message.get("stop") or [],
            temperature=sampling.get("temperature", 1.0), top_p=sampling.get("top_p", 1.0),
            top_k=sampling.get("top_k", 0), seed=sampling.get("seed"),
            presence_penalty=sampling.get("presence_penalty", 0.0),
            frequency_penalty=sampling.get("frequency_penalty", 0.0),
            logit_bias=[(int(token), bias) for token, bias in sampling.get("logit_bias") or ()],
            fairness_key=message.get("fairness"),
            on_event=on_event,
        )
        loaded.active.add(request_id)
        try:
            self.handles[request_id] = loaded.engine.submit(request)
        except ValueError as exc:  # refused by the engine (e.g. over the context): the buyer's 400
            loaded.active.discard(request_id)
            self.active.discard(request_id)
            self.publisher.put(request_id, {"t": "error", "status": 400, "code": "invalid_request",
                                            "error": str(exc)}, last=True)

    def _watch_cancels(self) -> None:
        client = replies.worker_redis()
        while not self.stopping.wait(0.1):
            ids = list(self.handles)
            if not ids:
                continue
            try:
                flags = client.mget([gen_lane.cancel_key(i) for i in ids])
            except redis.RedisError:
                continue
            for request_id, flag in zip(ids, flags, strict=True):
                handle = self.handles.get(request_id)
                if flag and handle is not None:
                    handle.cancel()
