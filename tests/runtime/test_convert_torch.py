"""TorchScript and torch.export uploads of the same MLP convert faithfully; ONNX uploads and
the later stages (optimise, INT8 option, benchmark) work on real files."""

from __future__ import annotations

import numpy as np
import pytest

from inference.conversion.steps.errors import ModelCheckError, ParityFailed
from inference.conversion.steps.examples import load_npz, save_npz
from inference.conversion.steps.pipeline_steps import (
    benchmark,
    convert_in_sandbox,
    optimize,
    scan,
    validate_in_sandbox,
)
from tests.runtime.fixtures_models import build_hf_zip, build_pt2, build_torchscript, mlp_example
from tests.runtime.test_formats import tiny_onnx

pytestmark = pytest.mark.slow


def test_torchscript_upload_converts_with_parity(tmp_path):
    path, npz = build_torchscript(tmp_path)
    work = tmp_path / "work"
    converted = convert_in_sandbox(scan(path, work), work, example_inputs_npz=str(npz))
    validated = validate_in_sandbox(converted, work)
    assert converted["exporter"] == "torchscript"
    assert converted["signature"]["inputs"] == [
        {"name": "input", "datatype": "FP32", "shape": [-1, 4]}
    ]
    assert validated["passed"] and validated["max_abs_error"] <= 1e-4


def test_pt2_upload_of_the_same_mlp_converts_with_parity(tmp_path):
    work = tmp_path / "work"
    converted = convert_in_sandbox(scan(build_pt2(tmp_path), work), work)
    validated = validate_in_sandbox(converted, work)
    assert converted["exporter"] == "dynamo"
    assert converted["signature"]["inputs"][0]["shape"] == [-1, 4]
    assert validated["passed"] and validated["max_abs_error"] <= 1e-4
    # Same weights and inputs as the TorchScript upload: both ONNX files agree with the MLP.
    inputs = load_npz(work / converted["example_inputs"])
    np.testing.assert_array_equal(next(iter(inputs.values())), mlp_example())


def test_torchscript_without_example_inputs_says_what_to_upload(tmp_path):
    path, _ = build_torchscript(tmp_path)
    work = tmp_path / "work"
    with pytest.raises(ModelCheckError) as exc:
        convert_in_sandbox(scan(path, work), work)
    assert exc.value.code == "conversion_failed"
    assert ".npz" in exc.value.message and "input" in exc.value.message


def test_tampered_reference_fails_parity(tmp_path):
    work = tmp_path / "work"
    converted = convert_in_sandbox(scan(build_pt2(tmp_path), work), work)
    reference = load_npz(work / converted["reference_outputs"])
    save_npz(work / converted["reference_outputs"], {k: v + 0.5 for k, v in reference.items()})
    with pytest.raises(ParityFailed) as exc:
        validate_in_sandbox(converted, work)
    assert exc.value.details["max_abs_error"] == pytest.approx(0.5, abs=1e-3)


def test_onnx_upload_is_run_once_with_generated_inputs(tmp_path):
    work = tmp_path / "work"
    scanned = scan(tiny_onnx(tmp_path / "upload.bin"), work)
    converted = convert_in_sandbox(scanned, work)
    validated = validate_in_sandbox(converted, work)
    assert converted["exporter"] is None
    assert validated["kind"] == "smoke_run" and validated["passed"]
    assert validated["outputs"]["y"]["shape"] == [2, 4]


def test_transformer_gets_an_optimised_artifact_an_int8_option_and_a_profile(tmp_path):
    work = tmp_path / "work"
    converted = convert_in_sandbox(scan(build_hf_zip("bert", tmp_path), work), work)
    optimized = optimize(converted, work)
    assert (work / optimized["optimized_path"]).is_file()
    assert optimized["parity"]["passed"]
    int8 = optimized["int8"]
    assert int8 is not None and (work / int8["path"]).is_file()
    assert int8["max_abs_delta"] > 0  # measured, reported, never substituted

    profile = benchmark(converted, work, onnx_path=optimized["optimized_path"], runs=5)
    assert set(profile["batches"]) == {"1", "8"}
    for row in profile["batches"].values():
        assert 0 < row["p50_ms"] <= row["p95_ms"]
    assert profile["session_load_seconds"] > 0
