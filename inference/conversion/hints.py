"""What a vendor should do next, per failure code of the runtime's ModelCheckError."""

from inference.conversion.steps.errors import ACCEPTED_FORMATS
from inference.conversion.steps.llm_detect import SUPPORTED_NAMES

HINTS = {
    "unsupported_format": f"Re-export the model: {ACCEPTED_FORMATS}.",
    "malformed_file": f"The file is damaged or of an unaccepted kind; {ACCEPTED_FORMATS}.",
    "archive_unsafe": "Re-create the zip with plain relative file names (no '..', absolute paths or "
    "links), within the entry and size limits, and upload it again.",
    "onnx_unsafe": "Export with standard ONNX operator domains only and keep external-data files next to "
    "the .onnx with relative names; declared tensor sizes must match their data.",
    "conversion_failed": "Check that the model exports with torch.onnx.export on your machine; upload "
    "example inputs matching forward()'s arguments; or upload an .onnx directly.",
    "sandbox_limit": "The conversion exceeded its time or memory limit. Upload a smaller model, or an "
    ".onnx you exported yourself.",
    "parity_failed": "The ONNX outputs differ from the source model. Check for randomness in eval mode "
    "(dropout), data-dependent control flow, or upload an .onnx exported yourself.",
    "unsupported_architecture": f"Upload a causal language model of a supported family ({SUPPORTED_NAMES}) saved "
    "with save_pretrained(safe_serialization=True), or export it to ONNX yourself and upload the .onnx.",
    "generation_parity_failed": "The ONNX Runtime GenAI build generates different tokens from your model. Check "
    "that the checkpoint loads in transformers without missing or unexpected weights; if it does, this variant "
    "of the family is not built faithfully: contact support with this version's id.",
    "validation_failed": "The model produced NaN or infinite outputs on test inputs; upload example "
    "inputs in the range the model expects.",
    "worker_lost": "Try a smaller model, or contact support with this version's id.",
    "internal_error": "Upload the version again; if it fails again, contact support with its id.",
}


def hint_for(code: str) -> str:
    return HINTS.get(code, HINTS["internal_error"])
