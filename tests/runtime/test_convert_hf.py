"""Hugging Face zips of real architectures convert to ONNX that matches the source model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from inference.conversion.steps.examples import load_npz
from inference.conversion.steps.pipeline_steps import convert_in_sandbox, scan, validate_in_sandbox
from tests.runtime.fixtures_models import HF_ARCHITECTURES, build_hf_zip, build_minilm_zip

pytestmark = pytest.mark.slow
REPORT = os.environ.get("PARITY_REPORT")  # optional JSON lines file, for the bench notes


def _convert_and_validate(upload, workdir) -> tuple[dict, dict]:
    scanned = scan(upload, workdir)
    assert scanned["format"] == "hf_zip"
    converted = convert_in_sandbox(scanned, workdir)
    validated = validate_in_sandbox(converted, workdir)
    if REPORT:
        with open(REPORT, "a") as fh:
            fh.write(json.dumps({"model": upload.name, "exporter": converted["exporter"],
                                 "max_abs": validated["max_abs_error"],
                                 "export_seconds": converted["export_seconds"]}) + "\n")
    return converted, validated


@pytest.mark.parametrize("arch", sorted(HF_ARCHITECTURES))
def test_hf_architecture_converts_with_parity(tmp_path, arch):
    upload = build_hf_zip(arch, tmp_path)
    converted, validated = _convert_and_validate(upload, tmp_path / "work")

    assert validated["passed"]
    assert validated["max_abs_error"] <= 1e-4
    assert converted["exporter"] in ("dynamo", "torchscript")
    assert (tmp_path / "work" / converted["onnx_path"]).is_file()
    for spec in converted["signature"]["inputs"]:
        assert spec["shape"][0] == -1, f"{spec['name']} should have a dynamic batch axis"
        if spec["name"] == "input_ids":
            assert spec["datatype"] == "INT64" and spec["shape"][1] == -1
        if spec["name"] == "pixel_values":
            assert spec["datatype"] == "FP32"


def test_all_minilm_l6_v2_real_weights_match_the_source(tmp_path):
    upload = build_minilm_zip(tmp_path)
    converted, validated = _convert_and_validate(upload, tmp_path / "work")

    assert converted["model_class"] == "BertModel"
    assert validated["passed"] and validated["max_abs_error"] <= 1e-4
    reference = load_npz(tmp_path / "work" / converted["reference_outputs"])
    hidden = reference["last_hidden_state"]
    assert hidden.shape[-1] == 384
    assert np.abs(hidden).max() > 0.1  # real weights, not a zero model
