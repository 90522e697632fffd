"""Dynamic batching: concurrent requests for one model become one `session.run`.

Callers (Celery worker threads) `submit` and wait on a Future. A runner thread of the model key
takes the oldest request, waits up to `window_s` for more (or until `max_batch_size` rows are
queued), concatenates compatible requests along axis 0, runs once and hands each caller a view
of exactly its own rows.

Up to `runs_at_once` batches of one model run at the same time (one runner thread each). A run
of a small model leaves cores idle in its serial stretches (graph bookkeeping, single-threaded
ops, copying outputs); a second run fills them. A runner that may start while others run takes
its share of the queue (queued rows divided by the runs that may start now), so the runs overlap
instead of one taking everything. Runs overlap only under load and when a run costs at least
OVERLAP_MIN_RUN_CPU_S: a run of microseconds is mostly Python, and overlapping it only splits
batches. bench/peers, MiniLM on 2 cores at concurrency 16, the whole metered path, alternating
runs of 3 rounds x 8 s: 0.59-0.74x raw ORT with two runs at once against 0.53-0.57x with one
(p50 lower, p99 about a fifth higher); bench/runtime_batching.py's tiny MLP is unchanged. The
worker's setting is INFERENCE_BATCH_RUNS_AT_ONCE (default 2).

Compatible means: the same session and requested outputs, and for every input the same dtype
and the same non-batch dims. Sequence models whose second dim varies per request therefore only
batch requests of equal length; we do not pad, because padding changes results of models
without an attention mask and wastes compute on the rest.

Batching assumes rows are independent (true for inference graphs almost always); a version
whose graph mixes rows must be served with batching disabled.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Outputs = dict[str, np.ndarray]
OVERLAP_MIN_RUN_CPU_S = 0.001


@dataclass(slots=True)
class _Request:
    session: Any
    inputs: Mapping[str, np.ndarray]
    output_names: tuple[str, ...]
    future: Future
    rows: int | None  # None: cannot be concatenated with anything
    enqueued: float = field(default_factory=time.perf_counter)

    def group(self) -> Hashable:
        if self.rows is None:
            return id(self)
        shapes = tuple((n, a.dtype.str, a.shape[1:]) for n, a in sorted(self.inputs.items()))
        return (id(self.session), self.output_names, shapes)


class _Lane:
    """Queue and runner state of one model key."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queue: deque[_Request] = deque()
        self.queued_rows = 0
        self.runners = 0  # live runner threads
        self.cap = 0
        self.expected = 1  # requests in the last batch: how many callers are likely active
        self.batchable: bool | None = None  # learned from the session, cleared on bad output
        self.running = 0  # batches and lone callers' runs in progress
        self.collecting = False  # a runner is gathering the next batch
        self.last_run_cpu_s = 0.0  # CPU time of the last batch's run in its runner thread


class DynamicBatcher:
    def __init__(self, *, window_s: float = 0.002, max_batch_size: int = 32,
                 enabled: bool = True, adaptive: bool = True,
                 idle_timeout_s: float = 60.0, runs_at_once: int = 1) -> None:
        self.window_s = window_s
        self.runs_at_once = max(1, runs_at_once)
        # Adaptive: stop waiting once as many requests are queued as the last batch held.
        # Closed-loop callers (a worker's thread pool) come back together, so waiting the full
        # window after they all arrived only adds latency; a lone caller never waits at all.
        self.adaptive = adaptive
        self.max_batch_size = max_batch_size
        self.enabled = enabled
        self.idle_timeout_s = idle_timeout_s
        self._lanes: dict[Hashable, _Lane] = {}
        self._lanes_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._runs = self._requests = self._fallbacks = 0
        self._sizes: Counter[int] = Counter()
        self._waits: deque[float] = deque(maxlen=8192)

    # -------------------------------------------------------------- public API

    def submit(self, key: Hashable, session: Any, inputs: Mapping[str, np.ndarray],
               output_names: Sequence[str] | None = None, *,
               max_batch_size: int | None = None) -> Future:
        """Queue one request; the Future resolves to {output name: array} or the run's error.

        `max_batch_size` is the model's own cap (from its signature or vendor settings); the
        effective cap is the smaller of it and the batcher's.
        """
        names = tuple(output_names) if output_names else _output_names(session)
        future: Future = Future()
        if not self.enabled:
            future.set_running_or_notify_cancel()
            self._run_alone(_Request(session, inputs, names, future, None))
            return future
        lane = self._lane(key)
        with lane.cond:
            if lane.batchable is None:
                lane.batchable = _dynamic_first_axis(session)
            request = _Request(session, inputs, names, future,
                               _rows(inputs) if lane.batchable else None)
            lane.cap = min(self.max_batch_size, max_batch_size or self.max_batch_size)
            lane.queue.append(request)
            lane.queued_rows += request.rows or 1
            if lane.runners < self._runs_allowed(lane):  # a second runner only once runs may overlap
                lane.runners += 1
                threading.Thread(target=self._loop, args=(lane,), daemon=True,
                                 name=f"batcher-{key}-{lane.runners}").start()
            _wake(lane)
        return future

    def run(self, key: Hashable, session: Any, inputs: Mapping[str, np.ndarray],
            output_names: Sequence[str] | None = None, **kwargs: Any) -> Outputs:
        """Blocking `submit`. A caller that finds its lane idle (nothing queued or running, and
        the last batch held one request) runs in its own thread with no hand-off to the runner;
        requests arriving meanwhile queue and run as the next batch. So a lone caller pays
        nothing for batching, and callers under load batch as before."""
        if self.enabled:
            lane = self._lane(key)
            with lane.cond:
                alone = self.adaptive and not lane.queue and not lane.running and lane.expected <= 1
                lane.running += alone
            if not alone:
                return self.submit(key, session, inputs, output_names, **kwargs).result()
        names = tuple(output_names) if output_names else _output_names(session)
        try:
            return dict(zip(names, session.run(names, _feed(inputs)), strict=True))
        finally:
            self._count(1)
            if self.enabled:
                with lane.cond:
                    lane.running -= 1
                    if lane.queue:  # arrivals held back while this lone caller ran
                        _wake(lane)

    def metrics(self) -> dict[str, Any]:
        with self._stats_lock:
            waits = sorted(self._waits)
            return {
                "runs": self._runs,
                "requests": self._requests,
                "fallbacks": self._fallbacks,
                "batch_size_histogram": dict(sorted(self._sizes.items())),
                "queue_wait_p50_ms": _pct(waits, 0.50) * 1e3,
                "queue_wait_p99_ms": _pct(waits, 0.99) * 1e3,
            }

    # -------------------------------------------------------------- runner

    def _lane(self, key: Hashable) -> _Lane:
        with self._lanes_lock:
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane()
            return lane

    def _loop(self, lane: _Lane) -> None:
        while True:
            with lane.cond:
                batch = self._next_batch(lane)
                if batch is None:  # idle: exit so evicted models do not keep threads
                    lane.runners -= 1
                    return
            started = time.perf_counter()
            with self._stats_lock:
                self._waits.extend(started - r.enqueued for r in batch)
            live = [r for r in batch if r.future.set_running_or_notify_cancel()]
            try:
                self._execute(lane, live)
            except BaseException as exc:  # a bug here must not leave callers waiting forever
                for r in live:
                    if not r.future.done():
                        r.future.set_exception(exc)
            finally:
                with lane.cond:
                    lane.running -= 1
                    if lane.queue:
                        _wake(lane)

    def _next_batch(self, lane: _Lane) -> list[_Request] | None:
        """The next batch, counted as running; None after `idle_timeout_s` with nothing queued.
        Called holding `lane.cond`. One runner collects at a time, and only while fewer runs are
        in progress than `_runs_allowed`."""
        while not lane.queue or lane.collecting or lane.running >= self._runs_allowed(lane):
            if not lane.cond.wait(self.idle_timeout_s) and not lane.queue:
                return None
        lane.collecting = True
        lane.running += 1
        deadline = lane.queue[0].enqueued + self.window_s
        while lane.queued_rows < lane.cap and not (self.adaptive and len(lane.queue) >= lane.expected):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            lane.cond.wait(remaining)
        # Share the queue with the runs that may start now (this one included), so they overlap.
        free = max(1, self._runs_allowed(lane) - lane.running + 1)
        share = min(lane.cap, -(-lane.queued_rows // free))
        batch = [lane.queue.popleft()]
        rows = batch[0].rows or 1
        while lane.queue and rows + (lane.queue[0].rows or 1) <= share:
            batch.append(lane.queue.popleft())
            rows += batch[-1].rows or 1
        lane.queued_rows -= rows
        lane.expected = len(batch)
        lane.collecting = False
        if lane.queue:
            _wake(lane)  # the next runner may collect the arrivals meanwhile
        return batch

    def _runs_allowed(self, lane: _Lane) -> int:
        """Runs that may overlap now: one after a lone caller (its arrivals batch after it) or when
        runs are short (under OVERLAP_MIN_RUN_CPU_S a run is mostly Python, which holds the GIL, so
        a second one only splits batches: bench/runtime_batching.py's tiny MLP lost 10-25%). CPU
        time, not wall time: waiting for the GIL after ONNX Runtime returns would count as run."""
        if lane.expected <= 1 or lane.last_run_cpu_s < OVERLAP_MIN_RUN_CPU_S:
            return 1
        return self.runs_at_once

    def _execute(self, lane: _Lane, batch: list[_Request]) -> None:
        groups: dict[Hashable, list[_Request]] = {}
        for r in batch:
            groups.setdefault(r.group(), []).append(r)
        for group in groups.values():
            if len(group) == 1:
                self._run_alone(group[0])
            else:
                self._run_together(lane, group)

    def _run_together(self, lane: _Lane, group: list[_Request]) -> None:
        first = group[0]
        feed = {n: np.concatenate([r.inputs[n] for r in group]) for n in first.inputs}
        total = sum(r.rows or 0 for r in group)
        try:
            cpu = time.thread_time()
            results = first.session.run(first.output_names, feed)
            lane.last_run_cpu_s = time.thread_time() - cpu
            if any(np.ndim(o) == 0 or o.shape[0] != total for o in results):
                lane.batchable = False  # outputs are not per row: never batch this model again
                raise ValueError("outputs do not keep the batch axis")
        except Exception:  # noqa: BLE001 - one bad request must not fail its neighbours
            with self._stats_lock:
                self._fallbacks += 1
            for r in group:
                self._run_alone(r)
            return
        self._count(len(group))
        start = 0
        for r in group:
            stop = start + (r.rows or 0)
            r.future.set_result({n: o[start:stop] for n, o in zip(first.output_names, results,
                                                                  strict=True)})
            start = stop

    def _run_alone(self, r: _Request) -> None:
        try:
            results = r.session.run(r.output_names, _feed(r.inputs))
        except Exception as exc:  # noqa: BLE001 - delivered to the caller, not swallowed
            r.future.set_exception(exc)
            return
        finally:
            self._count(1)
        r.future.set_result(dict(zip(r.output_names, results, strict=True)))

    def _count(self, size: int) -> None:
        with self._stats_lock:
            self._runs += 1
            self._requests += size
            self._sizes[size] += 1


def _wake(lane: _Lane) -> None:
    """Wake the runner that can act on the queue: while one is collecting, that one (all wake:
    a Condition cannot pick it); else any one, since any idle runner may collect. Waking every
    runner on every call would cost tiny models more in thread switches than their run."""
    if lane.collecting:
        lane.cond.notify_all()
    else:
        lane.cond.notify()


def _output_names(session: Any) -> tuple[str, ...]:
    return tuple(o.name for o in session.get_outputs())


def _feed(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return inputs if isinstance(inputs, dict) else dict(inputs)  # ORT wants a real dict


def _dynamic_first_axis(session: Any) -> bool:
    # ORT reports a dynamic dim as a str (symbolic name) or None; an int is fixed.
    return all(a.shape and not isinstance(a.shape[0], int) for a in session.get_inputs())


def _rows(inputs: Mapping[str, np.ndarray]) -> int | None:
    firsts = {a.shape[0] if a.ndim else None for a in inputs.values()}
    if len(firsts) != 1 or None in firsts or 0 in firsts:
        return None
    return firsts.pop()


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
