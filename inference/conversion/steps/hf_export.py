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
AUDIO_SAMPLES = 16_000  # one second at 16 kHz, the rate of the Wav2Vec2-family extractors
# Axis 1 of these inputs is a length the exported graph keeps dynamic (named per group:
# inputs of one group always share their length).
LENGTH_AXES = {"input_ids": "sequence", "attention_mask": "sequence",
               "input_values": "samples", "decoder_input_ids": "decoder_sequence"}  # fmt: skip


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
    if main == "input_values":  # raw waveform (Wav2Vec2, HuBERT, WavLM, ...)
        return {"input_values": torch.randn(BATCH, AUDIO_SAMPLES, generator=gen)}
    frames = fixed_frames(config)
    if main == "input_features" and frames:
        mels = torch.randn(BATCH, config.num_mel_bins, frames, generator=gen)
        inputs = {"input_features": mels}
        if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in accepted:
            ids = torch.randint(0, config.vocab_size, (BATCH, SEQUENCE), generator=gen)
            inputs["decoder_input_ids"] = ids
        return inputs
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
) -> tuple[dict[str, Any], list[Any], list[Any], list[Any]]:
    """Export; return (exporter info, input tensors in order, reference output tensors,
    (inputs, reference) pairs at other lengths of the axes the graph kept dynamic)."""
    import torch

    from .length_checks import reference_at_other_lengths

    model = load_model(model_dir)
    inputs = example_inputs(model, npz_path)
    names = list(inputs)
    if not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        raise ConversionFailed("example input names must be Python identifiers")
    check_fixed_frames(inputs, model.config)
    with torch.no_grad():
        out = model(**inputs, return_dict=True)
    keys = [k for k, v in out.items() if isinstance(v, torch.Tensor)]
    reference = [out[k] for k in keys]
    wrapper = _wrap(model, names, keys)
    args = tuple(inputs[n] for n in names)
    external = sum(p.numel() * p.element_size() for p in model.state_dict().values()) > 1.5e9
    axes = length_axes(model, names)
    exporter = _export(wrapper, args, names, keys, axes, onnx_path, external)
    info = {"model_class": type(model).__name__, "output_keys": keys, **exporter}
    others = reference_at_other_lengths(model, inputs, keys, axes, onnx_path)
    return info, list(args), reference, others


def _export(
    wrapper: Any, args: tuple, names: list[str], keys: list[str],
    axes: dict[str, tuple], onnx_path: str, external: bool,
) -> dict[str, Any]:  # fmt: skip
    """The dynamo exporter with named dims, then with automatic ones, then TorchScript."""
    import torch

    inputs = dict(zip(names, args, strict=True))
    errors: list[str] = []
    for mode in ("named", "auto"):
        try:
            torch.onnx.export(
                wrapper, args, onnx_path, dynamo=True, external_data=external, verbose=False,
                output_names=keys, dynamic_shapes=_dynamic_shapes(inputs, axes, mode),
            )  # fmt: skip
            return {"exporter": "dynamo", "dynamic_shapes": mode}
        except Exception as exc:  # try looser dims, then the TorchScript exporter
            errors.append(f"dynamo/{mode}: {type(exc).__name__}: {str(exc)[:300]}")
    try:
        dynamic_axes = {n: {0: "batch", **({1: axes[n][0]} if n in axes else {})} for n in names}
        torch.onnx.export(
            wrapper, args, onnx_path, dynamo=False, input_names=names, output_names=keys,
            dynamic_axes=dynamic_axes, opset_version=17,
        )  # fmt: skip
    except Exception as exc:
        errors.append(f"torchscript: {type(exc).__name__}: {str(exc)[:300]}")
        raise ConversionFailed(
            "neither ONNX exporter could convert this model", details={"attempts": errors}
        ) from exc
    return {"exporter": "torchscript", "dynamo_errors": errors}


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


def fixed_frames(config: Any) -> int | None:
    """Mel frames an encoder takes exactly, or None. Whisper's encoder refuses any other
    length: its positional embedding has ``max_source_positions`` rows and two strided
    convolutions halve the frames, so the input is always 2 x max_source_positions."""
    if getattr(config, "model_type", None) == "whisper":
        return 2 * int(config.max_source_positions)
    return None


def check_fixed_frames(inputs: dict[str, Any], config: Any) -> None:
    """Vendor examples of a fixed-length encoder must have that length; say which shape."""
    frames, features = fixed_frames(config), inputs.get("input_features")
    if frames is None or features is None:
        return
    if tuple(features.shape[1:]) == (config.num_mel_bins, frames):
        return
    want = f"[batch, {config.num_mel_bins}, {frames}]"
    raise ConversionFailed(
        f"input_features must have shape {want}: this Whisper encoder takes exactly "
        f"{frames} mel frames (twice max_source_positions={config.max_source_positions}) and "
        f"{config.num_mel_bins} mel bins, but the example inputs have {list(features.shape)}; "
        "pad or trim the audio the way WhisperFeatureExtractor does (30 s for the released "
        "checkpoints), or upload no example inputs and they are generated",
        details={"input": "input_features", "got_shape": list(features.shape),
                 "expected_shape": ["batch", config.num_mel_bins, frames]},
    )  # fmt: skip


def length_axes(model: Any, names: list[str]) -> dict[str, tuple[str, int, int | None]]:
    """Input name -> (axis-1 group, min, max) for the lengths the graph keeps dynamic."""
    config = model.config
    audio = getattr(model, "main_input_name", None) == "input_values"
    max_len = getattr(config, "max_position_embeddings", None) or getattr(
        config, "n_positions", None
    )
    bounds = {
        "sequence": (1, int(max_len) if max_len else 8192),
        "samples": (_receptive_field(config), None),
        "decoder_sequence": (1, getattr(config, "max_target_positions", None) or 8192),
    }
    axes = {}
    for name in names:
        group = "samples" if audio and name == "attention_mask" else LENGTH_AXES.get(name)
        if group:
            axes[name] = (group, *bounds[group])
    return axes


def _receptive_field(config: Any) -> int:
    """Fewest samples a strided convolutional feature encoder turns into one frame."""
    kernels, strides = getattr(config, "conv_kernel", ()), getattr(config, "conv_stride", ())
    need = 1
    for kernel, stride in reversed(list(zip(kernels, strides, strict=False))):
        need = (need - 1) * stride + kernel
    return need


def _dynamic_shapes(inputs: dict[str, Any], axes: dict[str, tuple], mode: str) -> dict[str, Any]:
    from torch.export import Dim

    if mode == "auto":
        return {n: {0: Dim.AUTO, **({1: Dim.AUTO} if n in axes else {})} for n in inputs}
    batch = Dim("batch", min=1, max=4096)
    dims = {}
    for group, low, high in set(axes.values()):
        dims[group] = Dim(group, min=low) if high is None else Dim(group, min=low, max=int(high))
    return {n: {0: batch, **({1: dims[axes[n][0]]} if n in axes else {})} for n in inputs}
