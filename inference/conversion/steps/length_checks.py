"""Parity at input lengths other than the example's.

A graph that declares a dynamic sequence or audio axis promises every length, but parity on
the example alone cannot show it: a length baked into the graph passes at the example's own
length and breaks at any other. The conversion child therefore resamples the example along
each axis the exported graph kept dynamic, at ``COUNT`` other lengths, and records the source
model's outputs there; validation runs the ONNX model on the same inputs.

Resampling (positions drawn from the example with replacement) keeps every value one the
vendor or the generator already chose: token ids stay inside the vocabulary, masks stay masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COUNT = 2


def check_files(index: int) -> tuple[str, str]:
    """(inputs, reference outputs) file names of the index-th other-length check, from 1."""
    return f"length_{index}_inputs.npz", f"length_{index}_reference.npz"


def other_lengths(length: int, low: int, high: int | None) -> list[int]:
    """Up to ``COUNT`` lengths within [low, high] other than ``length``: a shorter and a longer
    one where there is room. Odd offsets leave remainders for strided convolutions."""
    top = high if high is not None else 4 * length + 8
    picks: list[int] = []
    shorter, longer = length * 5 // 8 + 1, length * 3 // 2 + 3
    for candidate in (shorter, longer, length * 3 // 8 + 1, length * 2 + 1, low, top):
        candidate = min(max(candidate, low), top)
        if candidate != length and candidate not in picks:
            picks.append(candidate)
    return picks[:COUNT]


def reference_at_other_lengths(
    model: Any, inputs: dict[str, Any], keys: list[str], axes: dict[str, tuple], onnx_path: str
) -> list[tuple[list[Any], list[Any]]]:
    """[(inputs in the example's order, the source model's outputs in ``keys`` order)]."""
    import torch

    groups = _dynamic_groups(inputs, axes, onnx_path)
    if not groups:
        return []
    lengths = {g: other_lengths(int(inputs[names[0]].shape[1]), low, high)
               for g, (names, low, high) in groups.items()}  # fmt: skip
    checks = []
    for index in range(COUNT):
        generator = torch.Generator().manual_seed(index + 1)
        variant = dict(inputs)
        for group, (names, _, _) in groups.items():
            if index >= len(lengths[group]):
                continue  # no room for another length: this group keeps the example's
            positions = torch.randint(0, int(inputs[names[0]].shape[1]), (lengths[group][index],),
                                      generator=generator)  # fmt: skip
            for name in names:
                variant[name] = inputs[name].index_select(1, positions)
        if all(variant[n] is inputs[n] for n in inputs):
            continue
        try:
            with torch.no_grad():
                out = model(**variant, return_dict=True)
        except Exception:  # noqa: BLE001 - the source itself refuses this length: nothing to compare
            continue
        checks.append(([variant[n] for n in inputs], [out[k] for k in keys]))
    return checks


def _dynamic_groups(
    inputs: dict[str, Any], axes: dict[str, tuple], onnx_path: str
) -> dict[str, tuple[list[str], int, int | None]]:
    """Groups whose every input has a dynamic axis 1 in the exported graph (an exporter may
    still have fixed one: then the graph takes only the example's length and says so)."""
    import onnx

    from inference.runtime.signature import signature_from_onnx

    graph = onnx.load_model(str(Path(onnx_path)), load_external_data=False)
    signature = signature_from_onnx(graph)
    dynamic = {s["name"] for s in signature["inputs"]
               if len(s["shape"]) > 1 and s["shape"][1] == -1}  # fmt: skip
    groups: dict[str, tuple[list[str], int, int | None]] = {}
    for name, (group, low, high) in axes.items():
        if name in inputs:
            groups.setdefault(group, ([], low, high))[0].append(name)
    return {g: spec for g, spec in groups.items() if all(n in dynamic for n in spec[0])}
