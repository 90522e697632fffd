"""SECURITY.md rows 6-8: ONNX graphs are checked before any session is created."""

from __future__ import annotations

import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inference.conversion.steps.errors import ModelCheckError, OnnxUnsafe
from inference.conversion.steps.onnx_safety import check_onnx
from inference.conversion.steps.pipeline_steps import scan


def _model(initializer: TensorProto, domain: str = "", op: str = "Add") -> onnx.ModelProto:
    node = helper.make_node(op, ["x", initializer.name], ["y"], domain=domain)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[initializer],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets)


def _weights() -> TensorProto:
    return helper.make_tensor("w", TensorProto.FLOAT, [4], np.ones(4, np.float32).tobytes(), True)


def _external(tmp_path, location: str):
    w = _weights()
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in {"location": location, "offset": "0", "length": "16"}.items():
        w.external_data.add(key=k, value=v)
    path = tmp_path / "model.onnx"
    onnx.save(_model(w), path)
    return path


def test_clean_model_with_external_data_passes(tmp_path):
    path = _external(tmp_path, "model.onnx.data")
    (tmp_path / "model.onnx.data").write_bytes(np.ones(4, np.float32).tobytes())
    assert check_onnx(path).graph.node[0].op_type == "Add"


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "sub/../../x"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    with pytest.raises(OnnxUnsafe) as exc:
        check_onnx(_external(tmp_path, location))
    assert exc.value.details["location"] == location


def test_external_data_symlink_is_refused(tmp_path):
    (tmp_path / "model.onnx.data").symlink_to("/etc/passwd")
    with pytest.raises(OnnxUnsafe):
        check_onnx(_external(tmp_path, "model.onnx.data"))


def test_onnx_zip_pointing_at_etc_passwd_is_refused_by_scan(tmp_path):
    model = _external(tmp_path, "../../etc/passwd")
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(model, "model.onnx")
    with pytest.raises(ModelCheckError) as exc:
        scan(z, tmp_path / "work")
    assert exc.value.code == "onnx_unsafe"


def test_custom_domain_node_is_refused(tmp_path):
    path = tmp_path / "evil.onnx"
    onnx.save(_model(_weights(), domain="com.evil", op="Pwn"), path)
    with pytest.raises(OnnxUnsafe) as exc:
        check_onnx(path)
    assert exc.value.details == {"domain": "com.evil", "op_type": "Pwn"}


def test_custom_domain_inside_a_subgraph_is_refused(tmp_path):
    inner = helper.make_graph(
        [helper.make_node("Pwn", ["x"], ["z"], domain="com.evil")], "then", [],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
    )  # fmt: skip
    cond = helper.make_tensor("c", TensorProto.BOOL, [], [True])
    node = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[cond],
    )  # fmt: skip
    path = tmp_path / "nested.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(OnnxUnsafe):
        check_onnx(path)


def test_initializer_declaring_a_trillion_elements_is_refused(tmp_path):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[10**6, 10**6])
    w.raw_data = b"\0" * 16
    path = tmp_path / "huge.onnx"
    onnx.save(_model(w), path)
    with pytest.raises(OnnxUnsafe) as exc:
        check_onnx(path)
    assert exc.value.details["elements"] == 10**12


def test_initializer_whose_data_does_not_match_its_dims_is_refused(tmp_path):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 1000])
    w.raw_data = b"\0" * 16
    path = tmp_path / "short.onnx"
    onnx.save(_model(w), path)
    with pytest.raises(OnnxUnsafe) as exc:
        check_onnx(path)
    assert exc.value.details == {"tensor": "w", "declared": 16000, "stored": 16}
