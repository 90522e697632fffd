"""Continuous-batching text generation for ONNX Runtime GenAI-built models (framework-free).

    engine = Engine("/models/x/fp32", max_batch=16, threads=4)
    ids = engine.folder.tokenizer.encode(text).ids
    handle = engine.submit(GenerationRequest(prompt_ids=ids, on_event=events.put, max_new_tokens=128,
                                             temperature=0.7, top_p=0.9, seed=1, stop=["\\n\\n"],
                                             fairness_key=organization_id))
"""

from .engine import Engine
from .folder import GenaiFolder, ModelConfig, load_folder
from .request import Event, FinishedEvent, FinishReason, GenerationRequest, Handle, TokenEvent
from .sampling import SamplingParams

__all__ = ["Engine", "Event", "FinishReason", "FinishedEvent", "GenaiFolder", "GenerationRequest", "Handle",
           "ModelConfig", "SamplingParams", "TokenEvent", "load_folder"]  # fmt: skip
