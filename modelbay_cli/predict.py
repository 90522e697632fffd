"""`modelbay predict <vendor>/<model> --input name=@file.npy`: one call of the Open Inference
Protocol (KServe v2) JSON API. Inputs are cast to the datatypes the model declares (its
`/v2/models/{name}` metadata), so a float64 .npy or a JSON list works for an FP32 input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from modelbay_cli.api import Api, split_model_name
from modelbay_cli.errors import CliError, Exit

V2_TO_NUMPY = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
               "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
               "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_}  # fmt: skip
NUMPY_TO_V2 = {np.dtype(t).name: name for name, t in V2_TO_NUMPY.items() if name != "BYTES"}


def _bad(message: str) -> CliError:
    return CliError(message, exit_code=Exit.BAD_INPUT, code="invalid_input")


def parse_input(text: str) -> tuple[str, np.ndarray]:
    """`name=@file.npy`, `name=@file.json` or `name=<JSON>` (e.g. x='[[1, 2, 3, 4]]')."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise _bad(f"--input {text!r}: write it as NAME=@file.npy, NAME=@file.json or NAME='[[1, 2]]'.")
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            if path.suffix == ".npy":
                return name, np.load(path, allow_pickle=False)  # an object array (a pickle) is refused
            value = path.read_text()
        except (OSError, ValueError) as exc:
            raise _bad(f"--input {name}: cannot read {path} ({exc}); give a .npy (numpy.save) or a JSON file.") from exc
    try:
        return name, np.asarray(json.loads(value))
    except (ValueError, TypeError) as exc:
        raise _bad(f"--input {name}: {value[:40]!r} is not JSON (a number or nested lists) nor @file.") from exc


def _cast(name: str, array: np.ndarray, datatype: str | None) -> tuple[np.ndarray, str]:
    if datatype == "BYTES":
        return np.asarray(array, dtype=str), "BYTES"
    if datatype in V2_TO_NUMPY:
        target = np.dtype(V2_TO_NUMPY[datatype])
        if array.dtype.kind in "fc" and target.kind in "iub":
            raise _bad(f"--input {name} holds {array.dtype} numbers but the model takes {datatype}; "
                       "send whole numbers.")
        return array.astype(target), datatype
    if array.dtype.kind in "US":
        return array.astype(str), "BYTES"
    if array.dtype.name not in NUMPY_TO_V2:
        raise _bad(f"--input {name}: {array.dtype} has no Open Inference Protocol datatype.")
    return array, NUMPY_TO_V2[array.dtype.name]


def request_body(inputs: list[tuple[str, np.ndarray]], metadata: dict) -> dict:
    declared = {spec.get("name"): spec.get("datatype") for spec in metadata.get("inputs", [])}
    body = []
    for name, array in inputs:
        array, datatype = _cast(name, array, declared.get(name))
        body.append({"name": name, "shape": list(array.shape), "datatype": datatype,
                     "data": array.ravel().tolist()})
    return {"inputs": body}


def predict(api: Api, target: str, raw_inputs: list[str], *, version: str | None, as_json: bool,
            save_dir: Path | None, out: Console, err: Console) -> Exit:
    vendor, slug = split_model_name(target)
    name = f"{vendor}.{slug}"
    inputs = [parse_input(text) for text in raw_inputs]
    if not inputs:
        raise _bad("Give at least one --input NAME=@file.npy.")
    suffix = f"/versions/{version}" if version else ""
    metadata = api.get(f"/v2/models/{name}{suffix}")
    response = api.request("POST", f"/v2/models/{name}{suffix}/infer", json=request_body(inputs, metadata))
    answer = response.json()
    if as_json:
        out.print_json(data=answer)
    else:
        _print_outputs(answer, out)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        for output in answer.get("outputs", []):
            np.save(save_dir / f"{output['name']}.npy", _as_array(output))
        err.print(f"Saved {len(answer.get('outputs', []))} output(s) as .npy in {save_dir}.")
    units, cost = response.headers.get("X-Modelbay-Units"), response.headers.get("X-Modelbay-Cost")
    if units or cost:
        err.print(f"Billed: {units or '?'} unit(s), cost {cost or '?'}.")
    return Exit.OK


def _as_array(output: dict[str, Any]) -> np.ndarray:
    dtype = V2_TO_NUMPY.get(output.get("datatype", ""), None)
    data = np.asarray(output.get("data", []), dtype=str if dtype is np.object_ else dtype)
    return data.reshape(output.get("shape") or data.shape)


def _print_outputs(answer: dict, out: Console) -> None:
    out.print(f"{answer.get('model_name')} version {answer.get('model_version')}")
    for output in answer.get("outputs", []):
        shape = "x".join(map(str, output.get("shape", []))) or "scalar"
        out.print(f"{output['name']} {output.get('datatype')} [{shape}]")
        out.print(np.array2string(_as_array(output), threshold=200), markup=False, highlight=False)
