"""What a caller hands the engine, what it gets back, and the events it receives.

Events are delivered by calling ``Request.on_event`` on the engine's own thread, in order, one
request at a time. Every other stream waits while a callback runs, so it must be cheap and must
not block: put the event on a queue (``queue.SimpleQueue.put``, ``loop.call_soon_threadsafe``)
and return. A callback that raises ends its request with reason "error".

Per request: one ``TokenEvent`` for every generated token (including an end-of-sequence token
that ends it), then exactly one ``FinishedEvent``. The completion text is the concatenation of
every ``TokenEvent.text``; ``completion_tokens`` is the number of ``TokenEvent``s. Text is held
back while it could still become a stop string or ends inside a character, and released with a
later token; the last token of a request carries whatever is left. A cancelled or failed
request drops what was held back (at most the start of a stop string or a partial character).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .sampling import SamplingParams

FinishReason = Literal["stop", "length", "cancelled", "error"]
MAX_STOP_STRINGS = 16  # each is searched for after every token, on the thread every stream shares


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One generated token. ``text`` is the new text it releases (often "": see above)."""

    token_id: int
    text: str
    kind: Literal["token"] = "token"


@dataclass(frozen=True, slots=True)
class FinishedEvent:
    """The last event of a request.

    ``reason``: "stop" (an end-of-sequence token or a stop string), "length" (max_new_tokens or
    the context was reached), "cancelled" (``Handle.cancel``), "error" (``error`` says why, in
    words safe to show the caller: never prompt text).
    """

    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None
    kind: Literal["finished"] = "finished"


Event = TokenEvent | FinishedEvent


@dataclass(frozen=True)
class GenerationRequest:
    """One generation. Checked by ``Engine.submit`` (``checked_prompt``, ValueError).

    ``max_new_tokens=None`` generates until a stop or the engine's max_length. ``min_new_tokens``
    holds off end-of-sequence ids until that many tokens were generated (stop strings still stop).
    Sampling: greedy when ``do_sample`` is False or ``temperature`` is 0, else temperature, then
    ``top_k`` (0 = no limit), then ``top_p``, drawn with ``numpy.random.default_rng(seed)``
    (``seed=None``: fresh entropy), after OpenAI's ``logit_bias`` ((token id, -100 to 100) pairs),
    ``presence_penalty`` and ``frequency_penalty`` (-2 to 2, on the tokens generated so far); see
    sampling.py. ``fairness_key`` groups requests (e.g. the
    buyer organization): waiting requests are admitted round-robin across keys.
    """

    prompt_ids: Sequence[int]
    on_event: Callable[[Event], None]
    max_new_tokens: int | None = None
    min_new_tokens: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    do_sample: bool = True
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: Sequence[tuple[int, float]] = ()
    stop: Sequence[str] = ()
    fairness_key: Hashable = None

    def sampling(self) -> SamplingParams:
        """The validated sampling parameters (ValueError if they are not)."""
        return SamplingParams(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, seed=self.seed,
                              do_sample=self.do_sample, presence_penalty=self.presence_penalty,
                              frequency_penalty=self.frequency_penalty,
                              logit_bias=tuple((token, bias) for token, bias in self.logit_bias))  # fmt: skip

    def checked_prompt(self, *, vocab_size: int, max_length: int) -> np.ndarray:
        """The prompt as int64 ids once every field was checked; ValueError says what is wrong."""
        if not callable(self.on_event):
            raise ValueError("on_event must be callable")
        prompt = np.asarray(self.prompt_ids)
        if prompt.ndim != 1 or not len(prompt):
            raise ValueError("prompt_ids must be a non-empty list of token ids")
        if prompt.dtype.kind not in "iu":
            raise ValueError("prompt_ids must be integers")
        if prompt.min() < 0 or prompt.max() >= vocab_size:
            raise ValueError(f"prompt_ids must be token ids in [0, {vocab_size})")
        if len(prompt) >= max_length:
            raise ValueError(f"the prompt has {len(prompt)} tokens but this model serves at most {max_length} "
                             f"tokens in total (prompt and completion): shorten the prompt to at most "
                             f"{max_length - 1} tokens")  # fmt: skip
        new, least = self.max_new_tokens, self.min_new_tokens
        if new is not None and (isinstance(new, bool) or not isinstance(new, int) or new < 1):
            raise ValueError(f"max_new_tokens must be a positive integer or None, got {new!r}")
        if isinstance(least, bool) or not isinstance(least, int) or least < 0 or (new is not None and least > new):
            raise ValueError(f"min_new_tokens must be an integer between 0 and max_new_tokens, got {least!r}")
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError("stop must be a list of non-empty strings")
        if len(self.stop) > MAX_STOP_STRINGS:
            raise ValueError(f"at most {MAX_STOP_STRINGS} stop strings are allowed")
        outside = [token for token, _ in self.sampling().logit_bias if token >= vocab_size]
        if outside:
            raise ValueError(f"logit_bias names token {outside[0]}, but this model's token ids are 0 to {vocab_size - 1}")
        return prompt.astype(np.int64)


class Handle:
    """Returned by ``Engine.submit``. ``cancel`` is safe from any thread, any number of times."""

    def __init__(self, cancel: Callable[[Handle], None]) -> None:
        self._cancel = cancel
        self._finished = threading.Event()

    def cancel(self) -> None:
        """Stop generating: the request finishes with reason "cancelled" within one engine step
        (unless it finished first), reporting the tokens generated so far."""
        if not self._finished.is_set():
            self._cancel(self)

    @property
    def done(self) -> bool:
        """True once the FinishedEvent was delivered."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the FinishedEvent was delivered; False on timeout."""
        return self._finished.wait(timeout)
