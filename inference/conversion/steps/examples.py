"""Example inputs and reference outputs as .npz files (numpy only, never pickles).

The conversion child writes them; validation, optimisation and benchmarking read them.
Keys are ONNX input/output names so every step can line them up without guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

V2_TO_NUMPY = {
    "FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT8": np.int8,
    "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8,
    "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64, "BOOL": np.bool_,
}  # fmt: skip


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    np.savez(Path(path), **{k: np.asarray(v) for k, v in arrays.items()})


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    # allow_pickle=False: an object array in a vendor .npz would be a pickle.
    with np.load(Path(path), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def inputs_from_signature(
    signature: Mapping[str, Any], *, batch: int = 2, dynamic: int = 8, seed: int = 0
) -> dict[str, np.ndarray]:
    """Plausible inputs for a model we only know by its signature.

    Integer inputs are small non-negative values (safe as token ids, masks and indices);
    float inputs are standard normal. Dynamic axis 0 becomes ``batch``, others ``dynamic``.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in signature["inputs"]:
        shape = [d if d >= 0 else (batch if i == 0 else dynamic)
                 for i, d in enumerate(spec["shape"])]  # fmt: skip
        dtype = V2_TO_NUMPY.get(spec["datatype"])
        if dtype is None:
            raise ValueError(f"input {spec['name']!r} has type {spec['datatype']}")
        name = spec["name"]
        if dtype is np.bool_:
            out[name] = np.ones(shape, dtype=np.bool_)
        elif np.issubdtype(dtype, np.integer):
            # masks must be 1 to mean "attend"; ids are kept tiny to stay inside any vocab
            fill = np.ones(shape) if "mask" in name.lower() else rng.integers(0, 2, size=shape)
            out[name] = fill.astype(dtype)
        else:
            out[name] = rng.standard_normal(shape).astype(dtype)
    return out
