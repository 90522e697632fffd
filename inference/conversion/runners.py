"""Each pipeline stage's runner, by the version's kind: a language model's are in llm_stages,
every other model's in stages. llm_stages builds on stages; this module, above both, chooses.
"""

from __future__ import annotations

from pathlib import Path

from inference.conversion import llm_stages, stages
from inference.conversion.stages import Outcome
from marketplace.models import ModelVersion


def _by_kind(stage: str, tensor_runner):
    """The stage's runner for the version's kind (set when scanning recognised it)."""

    def run(version: ModelVersion, work: Path) -> Outcome:
        if version.kind == ModelVersion.Kind.LLM:
            return llm_stages.RUNNERS[stage](version, work)
        return tensor_runner(version, work)

    return run


RUNNERS = {"scanning": stages.scanning, "converting": _by_kind("converting", stages.converting),
           "validating": _by_kind("validating", stages.validating),
           "optimizing": _by_kind("optimizing", stages.optimizing),
           "benchmarking": _by_kind("benchmarking", stages.benchmarking)}  # fmt: skip
