"""Audio models (issue #16 item 6): Wav2Vec2 converts with a dynamic time axis and parity at
two other lengths, no example inputs needed; Whisper keeps its one input length and says which
shape an example must have. Also the ONNX upload's parity report (item 5)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from inference.conversion.steps.errors import ConversionFailed, ParityFailed
from inference.conversion.steps.examples import load_npz, save_npz
from inference.conversion.steps.pipeline_steps import convert_in_sandbox, scan, validate_in_sandbox
from tests.factories import tiny_onnx
from tests.runtime.fixtures_models import build_hf_zip

pytestmark = pytest.mark.slow


def _convert(arch: str, tmp_path, npz=None) -> tuple[dict, dict]:
    work = tmp_path / "work"
    converted = convert_in_sandbox(scan(build_hf_zip(arch, tmp_path), work), work,
                                   example_inputs_npz=str(npz) if npz else None)  # fmt: skip
    return converted, validate_in_sandbox(converted, work)


def test_wav2vec2_takes_any_audio_length_and_parity_is_checked_at_two_other_lengths(tmp_path):
    converted, validated = _convert("wav2vec2", tmp_path)

    assert converted["signature"]["inputs"] == [{"name": "input_values", "datatype": "FP32", "shape": [-1, -1]}]
    assert validated["passed"] and validated["max_abs_error"] <= 1e-4
    lengths = [check["shapes"]["input_values"][1] for check in validated["lengths"]]
    assert len(set(lengths)) == 2 and 16_000 not in lengths  # the generated example is one second
    assert all(check["passed"] and check["max_abs_error"] <= 1e-4 for check in validated["lengths"])
    session = ort.InferenceSession(str(tmp_path / "work" / converted["onnx_path"]))
    for samples in (5_000, 31_999):  # neither the example's length nor a checked one
        logits = session.run(None, {"input_values": np.zeros((1, samples), np.float32)})[0]
        assert logits.shape[:2] == (1, (samples - 400) // 320 + 1)


def test_wav2vec2_vendor_examples_do_not_fix_the_length_either(tmp_path):
    np.savez(tmp_path / "audio.npz", input_values=np.random.default_rng(0).standard_normal((3, 7_000)).astype(np.float32))
    converted, validated = _convert("wav2vec2", tmp_path, tmp_path / "audio.npz")

    assert converted["signature"]["inputs"][0]["shape"] == [-1, -1]
    assert validated["passed"] and [c["shapes"]["input_values"] for c in validated["lengths"]] == [
        [3, 4376], [3, 10503]]


def test_a_length_the_onnx_model_gets_wrong_fails_parity_and_says_at_which_shape(tmp_path):
    converted, _ = _convert("wav2vec2", tmp_path)
    work = tmp_path / "work"
    inputs_file, reference_file = converted["length_checks"][1]
    reference = load_npz(work / reference_file)
    save_npz(work / reference_file, {k: v + 0.5 for k, v in reference.items()})

    with pytest.raises(ParityFailed) as failed:
        validate_in_sandbox(converted, work)
    assert "match the source model on the example inputs but not at other input lengths" in failed.value.message
    assert "input_values [2, 24003]" in failed.value.message
    assert [c["passed"] for c in failed.value.details["lengths"]] == [True, False]


def test_whisper_keeps_its_fixed_frames_and_varies_only_the_decoder_length(tmp_path):
    converted, validated = _convert("whisper", tmp_path)

    inputs = {s["name"]: s["shape"] for s in converted["signature"]["inputs"]}
    assert inputs == {"input_features": [-1, 16, 60], "decoder_input_ids": [-1, -1]}
    assert validated["passed"]
    assert [c["shapes"]["decoder_input_ids"][1] for c in validated["lengths"]] == [6, 15]
    assert {tuple(c["shapes"]["input_features"]) for c in validated["lengths"]} == {(2, 16, 60)}


def test_whisper_example_of_the_wrong_length_is_refused_with_the_shape_it_needs(tmp_path):
    np.savez(tmp_path / "mels.npz", input_features=np.zeros((1, 16, 45), np.float32),
             decoder_input_ids=np.ones((1, 4), np.int64))  # fmt: skip
    with pytest.raises(ConversionFailed) as refused:
        _convert("whisper", tmp_path, tmp_path / "mels.npz")
    message = refused.value.message
    assert "input_features must have shape [batch, 16, 60]" in message
    assert "twice max_source_positions=30" in message and "[1, 16, 45]" in message
    assert refused.value.details["expected_shape"] == ["batch", 16, 60]


def test_onnx_upload_reports_how_far_the_served_graph_is_from_the_uploaded_one(tmp_path):
    (tmp_path / "upload.onnx").write_bytes(tiny_onnx())
    work = tmp_path / "work"
    validated = validate_in_sandbox(convert_in_sandbox(scan(tmp_path / "upload.onnx", work), work), work)

    assert validated["kind"] == "smoke_run" and validated["passed"]
    assert validated["compared_with"] == "uploaded_graph"
    y = validated["outputs"]["y"]
    assert y["shape"] == [2, 2] and y["finite"] and y["passed"]
    assert y["max_abs"] is not None and y["max_abs"] <= 1e-4
    assert validated["max_abs_error"] == y["max_abs"]
