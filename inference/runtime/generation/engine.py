"""Continuous batching for one GenAI-built language model on the CPU.

One thread owns the model. Each turn of its loop:

1. takes in new requests (into the fair waiting room) and cancellations;
2. prefills: new requests are admitted into free cache rows, each prefilled on its own (batch
   1), at most ``prefill_chunk`` prompt tokens per turn in total. A long prompt is split across
   turns, so the running streams get their next token after at most one chunk of prefill;
3. runs one decode step for every sequence past its prefill, all rows together (rows at
   different lengths: see runner.py), samples each row with its own parameters and delivers
   the events. Finished rows are freed and the cache is compacted so the decode batch is only
   the live rows.

Memory: the key/value cache is allocated once for ``max_batch`` rows of ``max_length`` positions:
``2 x layers x max_batch x kv_heads x max_length x head_size x 4`` bytes in fp32. The ~100M
Llama of the bench (12 layers, 4 KV heads of 64) at 16 rows costs 805 MB with its 2,048-token
context, 403 MB at max_length 1,024. The pages are zeroed lazily, so resident memory grows as
rows fill; ``memory_bytes`` is the worst case for the whole engine (weights included). Lower
``max_length`` or ``max_batch`` to fit.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from .fairness import FairQueue
from .folder import GenaiFolder, load_folder
from .request import GenerationRequest, Handle
from .sequence import DECODE, PREFILL, WAITING, Sequence

logger = logging.getLogger(__name__)

CLOSED = "the engine was closed before this request finished"


class Engine:
    """``Engine(folder, max_batch=16, threads=None)``: ``folder`` is a GenAI folder path (opened
    with ``threads`` intra-op threads) or an already loaded ``GenaiFolder``. ``max_length``
    (default: the model's context length) bounds prompt + completion. ``start=False`` defers the
    loop to ``start()``."""

    def __init__(self, folder: str | Path | GenaiFolder, *, max_batch: int = 16, threads: int | None = None,
                 max_length: int | None = None, prefill_chunk: int = 256, start: bool = True) -> None:  # fmt: skip
        if isinstance(folder, GenaiFolder) and threads is not None:
            raise ValueError("threads applies when the engine opens the folder; this GenaiFolder is already open")
        self.folder = folder if isinstance(folder, GenaiFolder) else load_folder(folder, threads=threads)
        config = self.folder.config
        self.max_length = config.context_length if max_length is None else max_length
        if not 2 <= self.max_length <= config.context_length:
            raise ValueError(f"max_length must be between 2 and the context length {config.context_length}")
        if max_batch < 1 or prefill_chunk < 2:
            raise ValueError("max_batch must be at least 1 and prefill_chunk at least 2")
        self.max_batch, self.prefill_chunk = max_batch, prefill_chunk
        from .runner import Runner

        # One token over the chunk: see _chunk.
        self._runner = Runner(self.folder, max_batch=max_batch, max_length=self.max_length,
                              max_prefill=prefill_chunk + 1)  # fmt: skip
        self._eos = frozenset(config.eos_token_ids)
        self._wake = threading.Condition()
        self._inbox: list[Sequence] = []  # guarded by _wake, like _cancels and _closed
        self._cancels: list[Handle] = []
        self._closed = False
        # Engine-thread state from here on.
        self._waiting: FairQueue[Sequence] = FairQueue()
        self._decoding: list[Sequence] = []  # index == cache slot
        self._prefilling: Sequence | None = None  # at slot len(_decoding)
        self._live: dict[Handle, Sequence] = {}
        self._thread = threading.Thread(target=self._loop, name=f"generation:{self.folder.path.name}", daemon=True)
        if start:
            self._thread.start()

    def start(self) -> None:
        self._thread.start()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, request: GenerationRequest) -> Handle:
        """Queue ``request``; returns at once. Raises ValueError for a request that cannot run
        (empty or too long prompt, unknown token ids, bad limits or sampling parameters) and
        RuntimeError once closed."""
        prompt = request.checked_prompt(vocab_size=self.folder.config.vocab_size, max_length=self.max_length)
        handle = Handle(self._request_cancel)
        sequence = Sequence(request, handle, prompt, request.sampling(), tokenizer=self.folder.tokenizer,
                            eos_ids=self._eos, max_length=self.max_length)  # fmt: skip
        with self._wake:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self._inbox.append(sequence)
            self._wake.notify()
        return handle

    def close(self, timeout: float | None = None) -> None:
        """Stop the loop; unfinished requests end with reason "error". Idempotent."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if threading.current_thread() is self._thread:
            return  # called from a callback: the loop ends after this turn
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif self._thread.ident is None:  # never started: nobody else will deliver the events
            self._shutdown()

    def memory_bytes(self) -> int:
        """Estimated resident bytes: weights, the preallocated cache and logits buffers, and the
        peak prefill activations ONNX Runtime's arena keeps (attention scores of one chunk
        against the full length, plus hidden states)."""
        cfg = self.folder.config
        activations = 4 * self.prefill_chunk * (cfg.attention_heads * self.max_length + 16 * cfg.hidden_size)
        return self.folder.weights_bytes + self._runner.buffer_bytes() + activations

    def _request_cancel(self, handle: Handle) -> None:
        with self._wake:
            self._cancels.append(handle)
            self._wake.notify()

    # Everything below runs on the engine thread.

    def _loop(self) -> None:
        try:
            while True:
                with self._wake:
                    while not (self._inbox or self._cancels or self._closed or self._busy()):
                        self._wake.wait()
                    inbox, self._inbox = self._inbox, []
                    cancels, self._cancels = self._cancels, []
                    closed = self._closed
                for sequence in inbox:
                    self._live[sequence.handle] = sequence
                    self._waiting.push(sequence.request.fairness_key, sequence)
                for handle in cancels:
                    self._cancel(handle)
                if closed:
                    break
                self._prefill()
                if self._decoding:
                    self._decode()
        except Exception:  # a bug in the engine itself: fail every request rather than hang them
            logger.exception("the generation engine loop stopped")
            with self._wake:
                self._closed = True
        self._shutdown()

    def _busy(self) -> bool:
        return bool(self._decoding or self._prefilling or len(self._waiting))

    def _shutdown(self) -> None:
        with self._wake:
            inbox, self._inbox, self._cancels = self._inbox, [], []
        for sequence in [*self._decoding, *([self._prefilling] if self._prefilling else []),
                         *self._waiting.drain(), *inbox]:  # fmt: skip
            self._finish(sequence, "error", CLOSED)
        self._decoding, self._prefilling = [], None

    def _prefill(self) -> None:
        budget = self.prefill_chunk
        while budget > 0:
            sequence = self._prefilling
            if sequence is None:
                if not len(self._waiting) or len(self._decoding) >= self.max_batch:
                    return
                sequence = self._prefilling = self._waiting.pop()
                sequence.state, sequence.slot = PREFILL, len(self._decoding)
            take = _chunk(sequence.length, len(sequence.prompt) - sequence.length, budget)
            if not take:
                return
            try:
                chunk = sequence.prompt[sequence.length : sequence.length + take]
                logits = self._runner.prefill(sequence.slot, chunk, sequence.length)
            except Exception as exc:
                self._prefilling = None
                self._finish(sequence, "error", f"prefill failed: {type(exc).__name__}: {exc}")
                continue
            sequence.length += take
            budget -= take
            if sequence.length == len(sequence.prompt):
                self._prefilling = None
                if self._advance(sequence, logits):
                    sequence.state = DECODE
                    self._decoding.append(sequence)

    def _decode(self) -> None:
        rows = self._decoding
        tokens = np.fromiter((s.next_token for s in rows), np.int64, len(rows))
        lengths = np.fromiter((s.length for s in rows), np.int64, len(rows))
        try:
            logits = self._runner.decode(tokens, lengths)
        except Exception as exc:
            message = f"decode step failed: {type(exc).__name__}: {exc}"
            for sequence in rows:
                self._finish(sequence, "error", message)
            self._decoding = []
            self._place_prefilling()
            return
        ended = []
        for index, sequence in enumerate(rows):
            sequence.length += 1
            if not self._advance(sequence, logits[index]):
                ended.append(index)
        self._free(ended)

    def _advance(self, sequence: Sequence, logits: np.ndarray) -> bool:
        """Choose and deliver the next token; False when the sequence has finished."""
        try:
            event, reason = sequence.advance(logits)
        except Exception as exc:
            self._finish(sequence, "error", f"sampling failed: {type(exc).__name__}: {exc}")
            return False
        try:
            sequence.request.on_event(event)
        except Exception as exc:
            self._finish(sequence, "error", f"on_event raised {type(exc).__name__}")
            return False
        if reason is not None:
            self._finish(sequence, reason)
            return False
        return True

    def _free(self, ended: list[int]) -> None:
        """Compact the decode rows after the rows at ``ended`` finished: live rows from the tail
        move into the holes, so slots 0..n-1 stay exactly the live rows."""
        if not ended:
            return
        rows, dead = self._decoding, set(ended)
        live = len(rows) - len(dead)
        holes = [i for i in sorted(dead) if i < live]
        movers = [i for i in range(live, len(rows)) if i not in dead]
        for hole, source in zip(holes, movers, strict=True):
            self._runner.move(source, hole, rows[source].length)
            rows[hole], rows[source].slot = rows[source], hole
        del rows[live:]
        self._place_prefilling()

    def _place_prefilling(self) -> None:
        sequence = self._prefilling
        if sequence is not None and sequence.slot != len(self._decoding):
            self._runner.move(sequence.slot, len(self._decoding), sequence.length)
            sequence.slot = len(self._decoding)

    def _cancel(self, handle: Handle) -> None:
        sequence = self._live.get(handle)
        if sequence is None:  # finished already
            return
        state = sequence.state
        if state == WAITING:
            self._waiting.remove(sequence.request.fairness_key, sequence)
        elif state == PREFILL:
            self._prefilling = None
        self._finish(sequence, "cancelled")
        if state == DECODE:
            self._free([sequence.slot])

    def _finish(self, sequence: Sequence, reason: str, error: str | None = None) -> None:
        self._live.pop(sequence.handle, None)
        try:
            event = sequence.finished(reason, error)  # type: ignore[arg-type]
            sequence.request.on_event(event)
        except Exception:
            logger.exception("delivering the finished event failed")
        finally:
            sequence.handle._finished.set()


def _chunk(done: int, remaining: int, budget: int) -> int:
    """Prompt tokens to prefill now (0: wait for the next turn's budget).

    A chunk of exactly one token after the first makes GroupQueryAttention take its decode path,
    whose keys/values round differently (~1e-6) from the prompt path onnxruntime_genai uses for
    the whole prompt; later logits would then differ. So no chunk but a first one is a single
    token: a lone last token is avoided by taking one fewer now or, with no room, one more.
    """
    take = min(budget, remaining)
    if remaining - take == 1:
        take = take - 1 if take >= 3 else remaining
    if take == 1 and done > 0:
        return 0
    return take
