"""The model steps: every onnxruntime call the engine makes, on buffers allocated once.

Layout. Each layer's key and value cache is one buffer ``[max_batch, kv_heads, max_length,
head_size]``; a sequence owns one row (its "slot") and its tokens fill positions
``0..length-1`` of that row, left-aligned. Batch is the outermost dimension, so slot ``s`` alone
(``[1, ...]`` at offset s) and slots ``0..n-1`` together (``[n, ...]`` at offset 0) are both
contiguous tensors: a prefill binds one slot, a decode step binds the first n, and nothing is
copied. The GroupQueryAttention nodes the GenAI builder emits update past and present in place
when both are bound to the same memory (``past_present_share_buffer``), write the new key/value
of row b at position ``sum(attention_mask[b]) - 1`` and take rotary positions from there, so a
right-padded mask gives every row its own length in one batched step.

Faithfulness. Each row of a batched step computes what a batch of one computes: the matrix
multiplications and the attention of a row read only that row. Measured on CPU (MLAS, fp32 and
int4), logits are bitwise equal across decode batch sizes and across how a prompt is split into
prefill chunks of two or more tokens. A one-token chunk after the first is the exception: it
takes the attention's decode path and its keys/values differ by ~1e-6, so the engine never
forms one (engine._chunk). The parity tests check token for token against onnxruntime_genai.
"""

from __future__ import annotations

import numpy as np

from .folder import GenaiFolder


class Runner:
    """Not thread-safe: the engine thread is its only user."""

    def __init__(self, folder: GenaiFolder, *, max_batch: int, max_length: int, max_prefill: int) -> None:
        import onnxruntime as ort

        cfg, dtypes = folder.config, folder.dtypes
        self._session, self._cfg = folder.session, cfg
        self.max_batch, self.max_length, self.max_prefill = max_batch, max_length, max_prefill
        self.vocab = cfg.vocab_size
        row = (cfg.kv_heads, max_length, cfg.head_size)
        self._keys = [np.zeros((max_batch, *row), dtypes[n]) for n in cfg.past_keys]
        self._values = [np.zeros((max_batch, *row), dtypes[n]) for n in cfg.past_values]
        self._row_bytes = self._keys[0][0].nbytes
        self._row_shape = row
        self._ids_dtype, self._mask_dtype = dtypes[cfg.input_ids], dtypes[cfg.attention_mask]
        self._pos_dtype = dtypes[cfg.position_ids] if cfg.position_ids else None
        self._logits_dtype = dtypes[cfg.logits]
        longest = max(max_batch, max_prefill)
        self._ids = np.zeros(longest, self._ids_dtype)
        self._positions = np.zeros(longest, self._pos_dtype or np.int64)
        self._mask = np.zeros(max_batch * max_length, self._mask_dtype)
        self._columns = np.arange(max_length, dtype=np.int64)
        self._decode_logits = np.zeros((max_batch, 1, self.vocab), self._logits_dtype)
        self._prefill_logits = np.zeros((1, max_prefill, self.vocab), self._logits_dtype)
        self._decode_io = self._session.io_binding()
        self._prefill_io = self._session.io_binding()
        self._decode_batch = 0  # the batch size the decode binding's cache and logits are bound for
        self._run_options = ort.RunOptions()

    def kv_bytes(self) -> int:
        return sum(a.nbytes for a in (*self._keys, *self._values))

    def buffer_bytes(self) -> int:
        return self.kv_bytes() + self._decode_logits.nbytes + self._prefill_logits.nbytes + self._mask.nbytes

    def _bind(self, io, name: str, array: np.ndarray, shape: tuple[int, ...], offset: int = 0, *, output=False):
        pointer = array.ctypes.data + offset
        if output:
            io.bind_output(name, "cpu", 0, array.dtype, shape, pointer)
        else:
            io.bind_input(name, "cpu", 0, array.dtype, shape, pointer)

    def _bind_cache(self, io, slot: int, rows: int) -> None:
        cfg, shape, offset = self._cfg, (rows, *self._row_shape), slot * self._row_bytes
        pairs = zip((*cfg.past_keys, *cfg.past_values), (*cfg.present_keys, *cfg.present_values),
                    (*self._keys, *self._values), strict=True)  # fmt: skip
        for past, present, buffer in pairs:
            # The same memory as input and output: the attention updates the cache in place.
            self._bind(io, past, buffer, shape, offset)
            self._bind(io, present, buffer, shape, offset, output=True)

    def prefill(self, slot: int, ids: np.ndarray, start: int) -> np.ndarray:
        """Feed ``ids`` (at most max_prefill) to slot ``slot`` whose first ``start`` positions
        are already cached; return the logits after the last one (valid until the next call)."""
        count = len(ids)
        io, cfg = self._prefill_io, self._cfg
        self._ids[:count] = ids
        self._bind(io, cfg.input_ids, self._ids, (1, count))
        total = start + count
        self._mask[:total] = 1
        self._bind(io, cfg.attention_mask, self._mask, (1, total))
        if cfg.position_ids:
            self._positions[:count] = np.arange(start, total)
            self._bind(io, cfg.position_ids, self._positions, (1, count))
        self._bind(io, cfg.logits, self._prefill_logits, (1, count, self.vocab), output=True)
        self._bind_cache(io, slot, 1)
        self._session.run_with_iobinding(io, self._run_options)
        return self._prefill_logits[0, count - 1]

    def decode(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """One step for slots ``0..n-1``: slot i holds ``lengths[i]`` cached tokens and gets
        ``tokens[i]``. Returns logits ``[n, vocab]`` (valid until the next call)."""
        rows = len(tokens)
        io, cfg = self._decode_io, self._cfg
        if rows != self._decode_batch:
            self._bind_cache(io, 0, rows)
            self._bind(io, cfg.logits, self._decode_logits, (rows, 1, self.vocab), output=True)
            self._decode_batch = rows
        self._ids[:rows] = tokens
        self._bind(io, cfg.input_ids, self._ids, (rows, 1))
        # Right padding: row i attends to its lengths[i] + 1 positions, the rest are masked.
        width = int(lengths.max()) + 1
        mask = self._mask[: rows * width].reshape(rows, width)
        np.less(self._columns[:width], (lengths + 1)[:, None], out=mask, casting="unsafe")
        self._bind(io, cfg.attention_mask, self._mask, (rows, width))
        if cfg.position_ids:
            self._positions[:rows] = lengths
            self._bind(io, cfg.position_ids, self._positions, (rows, 1))
        self._session.run_with_iobinding(io, self._run_options)
        return self._decode_logits[:rows, 0]

    def move(self, source: int, target: int, length: int) -> None:
        """Copy the first ``length`` cached positions of slot ``source`` into slot ``target``."""
        for buffer in (*self._keys, *self._values):
            buffer[target, :, :length] = buffer[source, :, :length]
