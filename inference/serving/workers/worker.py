"""The threads of an inference worker, feeding its serving state (worker_state.py).

The inference worker runs `-P threads -c 16`: when it is ready, a worker consuming `infer.*`
queues starts the crash watch (quarantine.py), as many sync-lane threads as its concurrency
(lane.py), INFERENCE_ASYNC_THREADS async-lane threads (async_lane.py) and the language-model
generation service (generation.py). All share one pool and one batcher, so concurrent requests
for a version batch together; async threads take their turn behind running sync calls (`Turns`).
The lanes call `tasks.serve_sync` / `serve_async`; nothing below this module imports it.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings

from inference.serving.lanes import replies
from inference.serving.lanes.async_lane import AsyncConsumer
from inference.serving.lanes.lane import LaneConsumer, lanes_for_queues
from inference.serving.workers.generation import Generation
from inference.serving.workers.quarantine import Watch
from inference.serving.workers.tasks import serve_async, serve_sync
from inference.serving.workers.worker_state import state

_serving: tuple[LaneConsumer, AsyncConsumer, Generation, Watch] | None = None


@worker_ready.connect
def _start_serving(sender: Any = None, **_: Any) -> None:
    """Start the crash watch, the sync lane and the async lane in a worker that consumes
    `infer.*` queues."""
    global _serving
    queues = list(sender.app.amqp.queues.consume_from) if sender is not None else []
    lanes = lanes_for_queues(queues)
    if not lanes or _serving is not None:
        return
    current = state()
    watch = Watch(current.active)
    watch.start()  # first sweep before serving: settles the runs of the worker this one replaces
    sync = LaneConsumer(lanes=lanes, threads=sender.controller.concurrency, serve=serve_sync)
    hardware = [q.removeprefix("infer.") for q in queues if q.startswith("infer.")]
    queued = AsyncConsumer(
        hardware_classes=hardware, threads=settings.INFERENCE_ASYNC_THREADS, serve=serve_async,
        turn=current.turns.async_turn, client_factory=replies.worker_redis)
    generation = Generation(hardware_classes=hardware, active=current.active)
    sync.start()
    queued.start()
    generation.start()
    _serving = (sync, queued, generation, watch)


@worker_shutting_down.connect
def _stop_serving(**_: Any) -> None:
    global _serving
    if _serving is not None:
        sync, queued, generation, watch = _serving
        sync.stop()
        queued.stop()
        generation.stop()
        watch.stop()
        state().isolation.close()
        _serving = None
