"""Hugging Face folder (config.json + model.safetensors) -> ONNX. Runs in the sandbox child.

Only classes built into ``transformers`` are used (``trust_remote_code=False``) and weights
come only from safetensors, so no vendor Python and no pickle is ever executed.
"""

from __future__ import annotations

import inspect
import keyword
from typing import Any

from .errors import ConversionFailed

BATCH = 2  # not 1: torch.export specialises size-1 dims to constants
SEQUENCE = 8
DEFAULT_IMAGE = 224
TEXT_INPUTS = ("input_ids", "attention_mask")


def load_model(model_dir: str) -> Any:
    """The task-head class named in ``architectures`` if transformers has it, else AutoModel."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModel, PreTrainedModel

    try:
        config = AutoConfig.from_pretrained(
            model_dir, trust_remote_code=False, local_files_only=True
        )
    except Exception as exc:
        raise ConversionFailed(
            "config.json names a model type transformers does not know; only architectures "
            "built into transformers are accepted (custom code is never run)",
            details={"reason": str(exc)[:500]},
        ) from exc
    config.use_cache = False  # past_key_values are not a servable output
    model_cls: Any = AutoModel
    for name in getattr(config, "architectures", None) or []:
        candidate = getattr(transformers, str(name), None)
        if (
            isinstance(candidate, type)
            and issubclass(candidate, PreTrainedModel)
            and isinstance(config, candidate.config_class)
        ):
            model_cls = candidate
            break
    common = dict(config=config, use_safetensors=True, local_files_only=True,
                  trust_remote_code=False, dtype=torch.float32)  # fmt: skip
    try:
        try:
            model = model_cls.from_pretrained(model_dir, attn_implementation="eager", **common)
        except (ValueError, TypeError):  # models without an attention implementation switch
            model = model_cls.from_pretrained(model_dir, **common)
    except Exception as exc:
        raise ConversionFailed(
            "the weights could not be loaded from model.safetensors with this config.json; "
            "save the model with save_pretrained(safe_serialization=True)",
            details={"type": type(exc).__name__, "reason": str(exc)[:1000]},
        ) from exc
    return model.eval()


def example_inputs(model: Any, npz_path: str | None) -> dict[str, Any]:
    """Vendor-given inputs, else generated ones that fit the config (ids within the vocab)."""
    import torch

    from .examples import load_npz

    if npz_path:
        arrays = load_npz(npz_path)
        return {k: torch.from_numpy(v) for k, v in arrays.items()}
    config = model.config
    gen = torch.Generator().manual_seed(0)
    main = getattr(model, "main_input_name", "input_ids")
    accepted = inspect.signature(model.forward).parameters
    if main == "pixel_values":
        channels = getattr(config, "num_channels", 3)
        size = getattr(config, "image_size", DEFAULT_IMAGE)
        h, w = (size, size) if isinstance(size, int) else tuple(size)[:2]
        return {"pixel_values": torch.randn(BATCH, channels, h, w, generator=gen)}
    if main == "input_ids" and getattr(config, "vocab_size", None):
        ids = torch.randint(0, config.vocab_size, (BATCH, SEQUENCE), generator=gen)
        inputs = {"input_ids": ids}
        if "attention_mask" in accepted:
            inputs["attention_mask"] = torch.ones(BATCH, SEQUENCE, dtype=torch.long)
        return inputs
    raise ConversionFailed(
        f"cannot generate example inputs for {type(model).__name__} (main input {main!r}); "
        "upload them as an .npz named after forward()'s arguments",
        details={"main_input": main},
    )


def export_hf(
    model_dir: str, onnx_path: str, npz_path: str | None
) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """Export; return (exporter info, input tensors in order, reference output tensors)."""
    import torch

    model = load_model(model_dir)
    inputs = example_inputs(model, npz_path)
    names = list(inputs)
    if not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        raise ConversionFailed("example input names must be Python identifiers")
    with torch.no_grad():
        out = model(**inputs, return_dict=True)
    keys = [k for k, v in out.items() if isinstance(v, torch.Tensor)]
    reference = [out[k] for k in keys]
    wrapper = _wrap(model, names, keys)
    args = tuple(inputs[n] for n in names)
    external = sum(p.numel() * p.element_size() for p in model.state_dict().values()) > 1.5e9
    info = {"model_class": type(model).__name__, "output_keys": keys}
    errors: list[str] = []
    for mode in ("named", "auto"):
        try:
            torch.onnx.export(
                wrapper, args, onnx_path, dynamo=True, external_data=external, verbose=False,
                output_names=keys, dynamic_shapes=_dynamic_shapes(inputs, model.config, mode),
            )  # fmt: skip
            return {**info, "exporter": "dynamo", "dynamic_shapes": mode}, list(args), reference
        except Exception as exc:  # try looser dims, then the TorchScript exporter
            errors.append(f"dynamo/{mode}: {type(exc).__name__}: {str(exc)[:300]}")
    try:
        axes = {n: {0: "batch", **({1: "sequence"} if n in TEXT_INPUTS else {})} for n in names}
        torch.onnx.export(
            wrapper, args, onnx_path, dynamo=False, input_names=names, output_names=keys,
            dynamic_axes=axes, opset_version=17,
        )  # fmt: skip
    except Exception as exc:
        errors.append(f"torchscript: {type(exc).__name__}: {str(exc)[:300]}")
        raise ConversionFailed(
            "neither ONNX exporter could convert this model", details={"attempts": errors}
        ) from exc
    return {**info, "exporter": "torchscript", "dynamo_errors": errors}, list(args), reference


def _wrap(model: Any, names: list[str], keys: list[str]) -> Any:
    """A module whose forward has the input names as real parameters (they become the ONNX
    input names) and returns the chosen outputs as a tuple."""
    import torch

    params = ", ".join(names)
    call = ", ".join(f"{n}={n}" for n in names)
    namespace: dict[str, Any] = {}
    exec(  # names were checked to be identifiers above
        f"def forward(self, {params}):\n"
        f"    out = self.model({call}, return_dict=True)\n"
        f"    return tuple(out[k] for k in self.keys)\n",
        namespace,
    )
    wrapper_cls = type("ExportWrapper", (torch.nn.Module,), {"forward": namespace["forward"]})
    wrapper = wrapper_cls()
    wrapper.model = model
    wrapper.keys = keys
    return wrapper.eval()


def _dynamic_shapes(inputs: dict[str, Any], config: Any, mode: str) -> dict[str, Any]:
    from torch.export import Dim

    if mode == "auto":
        return {n: {0: Dim.AUTO, **({1: Dim.AUTO} if n in TEXT_INPUTS else {})} for n in inputs}
    batch = Dim("batch", min=1, max=4096)
    max_len = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    seq = Dim("sequence", min=1, max=int(max_len) if max_len else 8192)
    return {n: {0: batch, **({1: seq} if n in TEXT_INPUTS else {})} for n in inputs}
