"""The fingerprint is written while the model is copied, never by parsing it whole: a bare ONNX
and an ONNX zip with external data both come out marked, loadable and otherwise unchanged."""

import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from marketplace import fingerprint

pytestmark = pytest.mark.django_db


def two_output_model() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(4, 2), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.add(key="vendor.note", value="kept")
    return model


def outputs(path) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ones((1, 4), dtype=np.float32)})[0]


def test_a_restamped_copy_carries_one_mark_the_newest_and_keeps_the_vendors_metadata(tmp_path):
    source = tmp_path / "m.onnx"
    onnx.save(two_output_model(), source)
    first, second = tmp_path / "first.onnx", tmp_path / "second.onnx"
    with first.open("wb") as out:
        fingerprint.stamp_file(source, out, fingerprint.new_mark(entitlement_id=1, organization_id=11))
    with second.open("wb") as out:  # a marked file stamped again (say, a re-uploaded copy)
        fingerprint.stamp_file(first, out, fingerprint.new_mark(entitlement_id=2, organization_id=22))

    keys = [p.key for p in onnx.load(second).metadata_props]
    assert keys.count(fingerprint.FINGERPRINT_KEY) == 1 and keys.count(fingerprint.MAC_KEY) == 1
    assert "vendor.note" in keys
    reading = fingerprint.read(second)
    assert reading.authentic and reading.payload["org"] == 22
    assert np.allclose(outputs(second), outputs(source))


def test_an_onnx_zip_is_marked_inside_and_its_external_data_is_copied_unchanged(tmp_path):
    model = two_output_model()
    folder = tmp_path / "folder"
    folder.mkdir()
    onnx.save(model, folder / "model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=0)
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as zf:
        zf.write(folder / "model.onnx", "model.onnx")
        zf.write(folder / "model.onnx.data", "model.onnx.data")
    stamped = tmp_path / "stamped.zip"
    with stamped.open("wb") as out:
        fingerprint.stamp_file(bundle, out, fingerprint.new_mark(entitlement_id=3, organization_id=33))

    with zipfile.ZipFile(stamped) as zf:
        assert zf.read("model.onnx.data") == (folder / "model.onnx.data").read_bytes()
        assert zf.getinfo("model.onnx.data").compress_type == zipfile.ZIP_STORED
        unpacked = tmp_path / "unpacked"
        zf.extractall(unpacked)
    assert np.allclose(outputs(unpacked / "model.onnx"), outputs(folder / "model.onnx"))
    reading = fingerprint.read(stamped)
    assert reading.authentic and reading.payload["org"] == 33


def test_a_file_that_is_not_onnx_reads_as_unmarked(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x0a\xff\xff\xff\x0f not a model")
    assert fingerprint.read(junk).payload is None
