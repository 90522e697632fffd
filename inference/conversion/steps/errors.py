"""Errors raised by the model pipeline.

Plain exceptions with a stable ``code`` so the Django layer can map them to its own
``ApplicationError`` types without this package knowing about Django.
"""

from __future__ import annotations

from typing import Any

ACCEPTED_FORMATS = (
    "upload an .onnx (optionally zipped with its external-data file), a TorchScript file from "
    "torch.jit.save, a .pt2 from torch.export.save, or a Hugging Face zip with config.json + "
    "model.safetensors"
)


class ModelCheckError(Exception):
    """A model upload failed a check; ``message`` tells the vendor what to do next."""

    code: str = "model_check_failed"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCheckError:
        """Rebuild the most specific subclass from ``to_dict`` output (crosses the sandbox)."""
        code = str(data.get("code", ""))
        klass = ERROR_CLASSES.get(code, ModelCheckError)
        details = data.get("details")
        return klass(
            str(data.get("message", "the model check failed")),
            code=code or None,
            details=details if isinstance(details, dict) else {},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class UnsupportedFormat(ModelCheckError):
    code = "unsupported_format"


class MalformedFile(ModelCheckError):
    code = "malformed_file"


class ArchiveUnsafe(ModelCheckError):
    code = "archive_unsafe"


class OnnxUnsafe(ModelCheckError):
    code = "onnx_unsafe"


class ConversionFailed(ModelCheckError):
    code = "conversion_failed"


class UnsupportedArchitecture(ModelCheckError):
    """A causal language model whose architecture the GenAI model builder cannot build."""

    code = "unsupported_architecture"


class SandboxLimit(ModelCheckError):
    """The child hit a memory, CPU, wall-clock or file-size limit, or died on a signal."""

    code = "sandbox_limit"


class ParityFailed(ModelCheckError):
    code = "parity_failed"


class ValidationFailed(ModelCheckError):
    code = "validation_failed"


ERROR_CLASSES: dict[str, type[ModelCheckError]] = {
    k.code: k
    for k in (
        UnsupportedFormat,
        MalformedFile,
        ArchiveUnsafe,
        OnnxUnsafe,
        ConversionFailed,
        UnsupportedArchitecture,
        SandboxLimit,
        ParityFailed,
        ValidationFailed,
    )
}
