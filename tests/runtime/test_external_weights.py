"""The worker's rewrite of a single-file ONNX: large weights moved to a mapped data file beside it."""

from __future__ import annotations

import stat

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from inference.runtime.external_weights import ALIGNMENT, externalize
from tests.runtime.test_sessions import mlp_bytes


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_large_weights_move_to_an_aligned_data_file_and_the_model_answers_the_same(tmp_path):
    source = tmp_path / "source.onnx"
    source.write_bytes(mlp_bytes(hidden=300))  # W1 4x300, W2 300x3: 4.8 KB and 3.6 KB; b1 1.2 KB
    model, data = tmp_path / "model.onnx", tmp_path / "w.weights"

    moved = externalize(source, model, data, min_bytes=2048)

    graph = onnx.load(str(model), load_external_data=False).graph
    placed = {t.name: {kv.key: kv.value for kv in t.external_data} for t in graph.initializer
              if t.data_location == onnx.TensorProto.EXTERNAL}
    assert set(placed) == {"W1", "W2"}, "b1 is under min_bytes: it stays inline"
    assert all(p["location"] == "w.weights" and int(p["offset"]) % ALIGNMENT == 0 for p in placed.values())
    assert moved == data.stat().st_size == int(placed["W2"]["offset"]) + int(placed["W2"]["length"])
    assert model.stat().st_size < 2048 < source.stat().st_size - 4800
    for path in (model, data):  # decrypted weights: this user's only
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    rewritten = session(model)
    model.unlink()
    data.unlink()  # as the worker does right after the session is created
    np.testing.assert_array_equal(rewritten.run(None, {"x": x})[0], session(source).run(None, {"x": x})[0])


def test_a_model_with_nothing_large_is_copied_as_it_is(tmp_path):
    source = tmp_path / "source.onnx"
    source.write_bytes(mlp_bytes())
    model, data = tmp_path / "model.onnx", tmp_path / "w.weights"
    assert externalize(source, model, data) == 0
    assert model.read_bytes() == source.read_bytes()


def test_the_data_file_must_sit_beside_the_model(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    source = tmp_path / "source.onnx"
    source.write_bytes(mlp_bytes())
    with pytest.raises(ValueError, match="directory"):
        externalize(source, tmp_path / "model.onnx", tmp_path / "elsewhere" / "w.weights")
