"""Choosing the next token from one row of logits, per request, in numpy.

Greedy (``do_sample=False`` or ``temperature=0``) is ``argmax``: the first of equal maxima, the
choice onnxruntime_genai and transformers make. Otherwise the logits are divided by the
temperature, cut to the ``top_k`` highest (every token tied with the k-th is kept, as in
transformers' TopK warper), cut to the nucleus (the fewest most likely tokens whose probability
sums to at least ``top_p``), and one token is drawn with the request's own
``numpy.random.Generator``. The draw depends only on that row's logits and that generator, so a
seed reproduces the same tokens whatever else shares the batch.

Before either, OpenAI's adjustments of the logits: ``logit_bias`` adds its value (-100 to 100) to
its token's logit, and a token already generated ``c`` times in this completion (not the prompt,
as vLLM counts) loses ``c * frequency_penalty + presence_penalty``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The nucleus is first looked for among this many most likely tokens (a partial sort); only a
# flat distribution needs more, and then the search widens. Same result as a full sort, faster
# on 32k-256k vocabularies.
_NUCLEUS_FIRST_GUESS = 64


@dataclass(frozen=True)
class SamplingParams:
    """``top_k=0`` means no limit; ``seed=None`` draws from fresh OS entropy."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    do_sample: bool = True
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, added to its logit)

    def __post_init__(self) -> None:
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, int | float) \
                or not math.isfinite(self.temperature) or self.temperature < 0:  # fmt: skip
            raise ValueError(f"temperature must be a finite number >= 0 (0 means greedy), got {self.temperature!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0 means no limit), got {self.top_k!r}")
        if isinstance(self.top_p, bool) or not isinstance(self.top_p, int | float) \
                or not math.isfinite(self.top_p) or not 0 < self.top_p <= 1:  # fmt: skip
            raise ValueError(f"top_p must be a number in (0, 1], got {self.top_p!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        if not isinstance(self.do_sample, bool):
            raise ValueError(f"do_sample must be true or false, got {self.do_sample!r}")
        for name in ("presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not -2 <= value <= 2:
                raise ValueError(f"{name} must be a number from -2 to 2, got {value!r}")
        for token, bias in self.logit_bias:
            if isinstance(token, bool) or not isinstance(token, int) or token < 0:
                raise ValueError(f"logit_bias keys must be token ids, got {token!r}")
            if isinstance(bias, bool) or not isinstance(bias, int | float) or not -100 <= bias <= 100:
                raise ValueError(f"logit_bias values must be numbers from -100 to 100, got {bias!r}")

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature == 0

    @property
    def penalized(self) -> bool:
        return self.presence_penalty != 0 or self.frequency_penalty != 0


class Sampler:
    """One request's sampler; not shared between requests (it owns the random generator)."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self._rng = None if params.greedy else np.random.default_rng(params.seed)
        self._penalized = params.penalized
        self._counts: dict[int, int] = {}  # tokens generated so far, kept only when penalized
        bias = dict(params.logit_bias)  # a token named twice: its last value, as in a JSON object
        self._bias_ids = np.fromiter(bias, np.int64, len(bias))
        self._bias = np.fromiter(bias.values(), np.float64, len(bias))

    def __call__(self, logits: np.ndarray) -> int:
        """The next token id from a 1-D row of logits (float32 or float16; bias and penalties
        are applied to the row in place)."""
        if len(self._bias_ids):
            logits[self._bias_ids] = (logits[self._bias_ids].astype(np.float64) + self._bias).astype(logits.dtype)
        if self._counts:
            self._penalize(logits)
        best = int(np.argmax(logits))
        if not math.isfinite(float(logits[best])):
            raise FloatingPointError("the model produced non-finite logits")
        token = best if self._rng is None else self._draw(logits)
        if self._penalized:
            self._counts[token] = self._counts.get(token, 0) + 1
        return token

    def _penalize(self, logits: np.ndarray) -> None:
        ids = np.fromiter(self._counts, np.int64, len(self._counts))
        counts = np.fromiter(self._counts.values(), np.float64, len(self._counts))
        penalty = counts * self.params.frequency_penalty + self.params.presence_penalty
        logits[ids] = (logits[ids].astype(np.float64) - penalty).astype(logits.dtype)

    def _draw(self, logits: np.ndarray) -> int:
        params = self.params
        scores = logits.astype(np.float64) / params.temperature
        vocab = scores.shape[0]
        ids = None  # the candidates' token ids, when top_k narrowed them
        if 0 < params.top_k < vocab:
            kth = np.partition(scores, vocab - params.top_k)[vocab - params.top_k]
            ids = np.flatnonzero(scores >= kth)
            scores = scores[ids]
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        # Without a nucleus cut, candidates stay in id order: no sort over a 100k+ vocabulary.
        order = self._nucleus(probs, params.top_p) if params.top_p < 1 else None
        kept = probs if order is None else probs[order]
        cumulative = np.cumsum(kept)
        choice = min(int(np.searchsorted(cumulative, self._rng.random() * cumulative[-1], side="right")),
                     len(kept) - 1)  # fmt: skip
        index = choice if order is None else int(order[choice])
        return index if ids is None else int(ids[index])

    @staticmethod
    def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
        """Token ids of the nucleus, most likely first (ties by lower id)."""
        vocab = probs.shape[0]
        target = top_p * (1 - 1e-12)  # a sum of all probabilities can fall a rounding short of 1.0
        guess = min(_NUCLEUS_FIRST_GUESS, vocab)
        while True:
            if guess < vocab:
                candidates = np.argpartition(-probs, guess - 1)[:guess]
                candidates = candidates[np.lexsort((candidates, -probs[candidates]))]
            else:
                candidates = np.lexsort((np.arange(vocab), -probs))
            # The first position whose running sum reaches top_p ends the nucleus; if the guess
            # never reaches it, the nucleus is wider than the guess.
            end = int(np.searchsorted(np.cumsum(probs[candidates]), target, side="left"))
            if end < len(candidates):
                return candidates[: end + 1]
            if guess >= vocab:
                return candidates
            guess = min(vocab, guess * 8)
