"""Conversions to ONNX. These functions run INSIDE the sandbox child (see ``sandbox``).

Each converter loads the vendor model with torch, runs it on example inputs to record
reference outputs, exports ONNX next to them in ``workdir`` and returns a JSON-able dict.
Nothing here is imported by the web or inference processes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .errors import ConversionFailed
from .formats import SourceFormat

ONNX_NAME = "model.onnx"
INPUTS_NAME = "example_inputs.npz"
REFERENCE_NAME = "reference_outputs.npz"
TORCHSCRIPT_OPSET = 17
EXTERNAL_DATA_BYTES = 1_500_000_000  # protobuf's 2 GiB cap, with headroom for the graph


def convert(
    source: str, fmt: str, workdir: str, example_inputs_npz: str | None = None
) -> dict[str, Any]:
    """Sandbox entry point: dispatch on the sniffed format."""
    converters = {
        SourceFormat.TORCHSCRIPT: convert_torchscript,
        SourceFormat.TORCH_EXPORT: convert_torch_export,
        SourceFormat.HF_ZIP: convert_hf,
    }
    converter = converters.get(SourceFormat(fmt))
    if converter is None:
        raise ConversionFailed(f"format {fmt} needs no conversion")
    return converter(source, workdir, example_inputs_npz)


def convert_torchscript(
    source: str, workdir: str, example_inputs_npz: str | None = None
) -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    module = torch.jit.load(source, map_location="cpu").eval()
    names = [a.name for a in module.forward.schema.arguments[1:]]
    if not example_inputs_npz:
        raise ConversionFailed(
            "a TorchScript file does not record its input shapes; upload example inputs as an "
            f".npz with one array per forward() argument ({', '.join(names)})",
            details={"forward_arguments": names},
        )
    args = _ordered_tensors(example_inputs_npz, names)
    with torch.no_grad():
        reference = _flatten(module(*args))
    output_names = _output_names(len(reference))
    onnx_path = Path(workdir) / ONNX_NAME
    axes = {n: {0: "batch"} for n in [*names, *output_names]}
    try:
        torch.onnx.export(
            module, tuple(args), str(onnx_path), dynamo=False, input_names=names,
            output_names=output_names, dynamic_axes=axes, opset_version=TORCHSCRIPT_OPSET,
        )  # fmt: skip
    except Exception as exc:
        raise _export_failed(exc) from exc
    return finish(workdir, "torchscript", args, reference, started)


def convert_torch_export(
    source: str, workdir: str, example_inputs_npz: str | None = None
) -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    program = torch.export.load(source)
    names = list(program.module_call_graph[0].signature.forward_arg_names or [])
    if example_inputs_npz:
        args, kwargs = tuple(_ordered_tensors(example_inputs_npz, names)), {}
    elif program.example_inputs is not None:
        args, kwargs = program.example_inputs
    else:
        raise ConversionFailed(
            "the .pt2 holds no example inputs; upload them as an .npz named after forward()'s "
            "arguments",
            details={"forward_arguments": names},
        )
    with torch.no_grad():
        reference = _flatten(program.module()(*args, **kwargs))
    onnx_path = Path(workdir) / ONNX_NAME
    try:
        torch.onnx.export(
            program, tuple(args), str(onnx_path), kwargs=kwargs, dynamo=True,
            external_data=_needs_external(program.state_dict.values()), verbose=False,
        )  # fmt: skip
    except Exception as exc:
        raise _export_failed(exc) from exc
    leaves = torch.utils._pytree.tree_leaves((args, kwargs))
    return finish(workdir, "dynamo", leaves, reference, started)


def convert_hf(source: str, workdir: str, example_inputs_npz: str | None = None) -> dict[str, Any]:
    from .hf_export import export_hf

    started = time.perf_counter()
    exporter, inputs, reference, other_lengths = export_hf(
        source, str(Path(workdir) / ONNX_NAME), example_inputs_npz
    )
    result = finish(workdir, exporter["exporter"], inputs, reference, started)
    result.update(exporter)
    result["length_checks"] = _save_length_checks(workdir, result["signature"], other_lengths)
    return result


def _save_length_checks(workdir: str, signature: dict, checks: list) -> int:
    """Inputs and reference outputs at other lengths, keyed by ONNX names as ``finish`` does."""
    from .examples import save_npz
    from .length_checks import check_files

    in_names = [s["name"] for s in signature["inputs"]]
    out_names = [s["name"] for s in signature["outputs"]]
    for index, (inputs, reference) in enumerate(checks, start=1):
        inputs_file, reference_file = check_files(index)
        save_npz(Path(workdir) / inputs_file,
                 {n: _np(t) for n, t in zip(in_names, inputs, strict=False)})  # fmt: skip
        save_npz(Path(workdir) / reference_file,
                 {n: _np(t) for n, t in zip(out_names, reference, strict=True)})  # fmt: skip
    return len(checks)


def finish(
    workdir: str, exporter: str, inputs: list[Any], reference: list[Any], started: float
) -> dict[str, Any]:
    """Save inputs/reference keyed by the ONNX names; describe the exported model."""
    import onnx

    from inference.runtime.signature import signature_from_onnx

    from .examples import save_npz

    work = Path(workdir)
    model = onnx.load_model(str(work / ONNX_NAME), load_external_data=False)
    signature = signature_from_onnx(model)
    in_names = [s["name"] for s in signature["inputs"]]
    out_names = [s["name"] for s in signature["outputs"]]
    if len(in_names) > len(inputs) or len(out_names) != len(reference):
        raise ConversionFailed(
            "the exported graph's inputs/outputs do not match the model's",
            details={"onnx_inputs": in_names, "onnx_outputs": out_names},
        )
    save_npz(work / INPUTS_NAME, {n: _np(t) for n, t in zip(in_names, inputs, strict=False)})
    save_npz(work / REFERENCE_NAME, {n: _np(t) for n, t in zip(out_names, reference, strict=True)})
    default = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    data_files = sorted({kv.value for t in model.graph.initializer for kv in t.external_data
                         if kv.key == "location"})  # fmt: skip
    return {
        "onnx_path": ONNX_NAME,
        "external_data": data_files,
        "exporter": exporter,
        "opset": default,
        "signature": signature,
        "example_inputs": INPUTS_NAME,
        "reference_outputs": REFERENCE_NAME,
        "export_seconds": round(time.perf_counter() - started, 2),
    }


def _ordered_tensors(npz_path: str, names: list[str]) -> list[Any]:
    import torch

    from .examples import load_npz

    arrays = load_npz(npz_path)
    if names and set(names) <= set(arrays):
        return [torch.from_numpy(arrays[n]) for n in names]
    if names and len(arrays) != len(names):
        raise ConversionFailed(
            f"the example .npz has {sorted(arrays)}, but forward() takes {names}",
            details={"npz_keys": sorted(arrays), "forward_arguments": names},
        )
    return [torch.from_numpy(a) for a in arrays.values()]  # positional, in file order


def _flatten(output: Any) -> list[Any]:
    import torch

    leaves = [x for x in torch.utils._pytree.tree_leaves(output) if isinstance(x, torch.Tensor)]
    if not leaves:
        raise ConversionFailed("the model returned no tensors on the example inputs")
    return leaves


def _output_names(count: int) -> list[str]:
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def _needs_external(tensors: Any) -> bool:
    return sum(t.numel() * t.element_size() for t in tensors) > EXTERNAL_DATA_BYTES


def _np(tensor: Any) -> Any:
    return tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else tensor


def _export_failed(exc: Exception) -> ConversionFailed:
    return ConversionFailed(
        "the ONNX exporter could not convert this model; check that forward() uses only "
        "traceable tensor operations",
        details={"type": type(exc).__name__, "reason": str(exc)[:1500]},
    )
