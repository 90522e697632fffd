"""One request inside the engine: its prompt, position, sampler, text state and stop rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from .request import FinishedEvent, FinishReason, GenerationRequest, Handle, TokenEvent
from .sampling import Sampler, SamplingParams
from .text import IncrementalDecoder, StopMatcher

WAITING, PREFILL, DECODE, DONE = "waiting", "prefill", "decode", "done"


class Sequence:
    """Owned by the engine thread (only ``handle`` is touched by callers)."""

    __slots__ = ("request", "handle", "prompt", "state", "slot", "length", "generated", "next_token",
                 "_limit", "_eos", "_sampler", "_decoder", "_stops")  # fmt: skip

    def __init__(self, request: GenerationRequest, handle: Handle, prompt: np.ndarray, sampling: SamplingParams, *,
                 tokenizer: Any, eos_ids: frozenset[int], max_length: int) -> None:  # fmt: skip
        self.request, self.handle, self.prompt = request, handle, prompt
        self.state = WAITING
        self.slot = -1  # the cache row, while prefilling or decoding
        self.length = 0  # tokens whose keys and values are in the cache
        self.generated = 0
        self.next_token = -1  # the last token chosen, fed to the model at the next decode step
        budget = max_length - len(prompt)
        if request.max_new_tokens is not None:
            budget = min(budget, request.max_new_tokens)
        self._limit = budget
        self._eos = eos_ids
        self._sampler = Sampler(sampling)
        self._decoder = IncrementalDecoder(tokenizer, prompt.tolist())
        self._stops = StopMatcher(request.stop)

    def advance(self, logits: np.ndarray) -> tuple[TokenEvent, FinishReason | None]:
        """Choose the next token from this sequence's row of logits (modified in place while
        end-of-sequence is held off); return its event and why the sequence ends, if it does."""
        if self.generated < self.request.min_new_tokens:
            logits[list(self._eos)] = -np.inf
        token = self._sampler(logits)
        self.generated += 1
        self.next_token = token
        if token in self._eos:
            return TokenEvent(token, self._release()[0]), "stop"
        text, stopped = self._stops.push(self._decoder.push(token))
        if stopped:
            return TokenEvent(token, text), "stop"
        # The limit counts the context too: the last token of a full context is never fed back.
        if self.generated >= self._limit:
            tail, stopped = self._release()
            return TokenEvent(token, text + tail), ("stop" if stopped else "length")
        return TokenEvent(token, text), None

    def _release(self) -> tuple[str, bool]:
        """At the last token: the text held back so far, and whether a character completed only
        now finished a stop string (then the text ends before it)."""
        text, stopped = self._stops.push(self._decoder.flush())
        return (text, True) if stopped else (text + self._stops.flush(), False)

    def finished(self, reason: FinishReason, error: str | None = None) -> FinishedEvent:
        self.state = DONE
        return FinishedEvent(reason, len(self.prompt), self.generated, error)
