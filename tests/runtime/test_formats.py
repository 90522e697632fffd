"""Uploads are recognised by content; everything outside the allow-list is refused."""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inference.conversion.steps.errors import MalformedFile, ModelCheckError, UnsupportedFormat
from inference.conversion.steps.formats import SourceFormat, sniff

ACCEPTED_HINT = "torch.export.save"


def tiny_onnx(path: Path) -> Path:
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


class Payload:
    """Unpickling runs os.system: the classic malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def malicious_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(Payload(marker), protocol=4))
    return path


def test_onnx_file_is_recognised(tmp_path):
    assert sniff(tiny_onnx(tmp_path / "anything.bin")) is SourceFormat.ONNX


def test_onnx_zip_with_external_data_is_recognised(tmp_path):
    z = tmp_path / "m.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(tiny_onnx(tmp_path / "m.onnx"), "m.onnx")
        zf.writestr("m.onnx.data", b"\0" * 16)
    assert sniff(z) is SourceFormat.ONNX_ZIP


def test_torchscript_and_pt2_are_told_apart_from_torch_save(tmp_path):
    import torch

    from tests.runtime.fixtures_models import build_pt2, build_torchscript, small_mlp

    ts, _ = build_torchscript(tmp_path)
    assert sniff(ts) is SourceFormat.TORCHSCRIPT
    assert sniff(build_pt2(tmp_path)) is SourceFormat.TORCH_EXPORT
    torch.save(small_mlp().state_dict(), tmp_path / "weights.zip")
    torch.save(small_mlp(), tmp_path / "module.onnx")
    for name in ("weights.zip", "module.onnx"):
        with pytest.raises(UnsupportedFormat) as exc:
            sniff(tmp_path / name)
        assert "arbitrary code" in exc.value.message
        assert exc.value.details["detected"] == "torch_save"


def test_hf_zip_is_recognised_in_a_subfolder(tmp_path):
    z = tmp_path / "hf.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("my-model/config.json", "{}")
        zf.writestr("my-model/model.safetensors", b"x")
    assert sniff(z) is SourceFormat.HF_ZIP


@pytest.mark.parametrize("name", ["model.onnx", "model.safetensors", "model.pt2", "model.pth"])
def test_malicious_pickle_is_refused_whatever_its_name(tmp_path, name):
    marker = tmp_path / "pwned"
    path = malicious_pickle(tmp_path / name, marker)
    with pytest.raises(UnsupportedFormat) as exc:
        sniff(path)
    assert "raw pickles are refused" in exc.value.message
    assert ACCEPTED_HINT in exc.value.message
    assert not marker.exists()


def test_seven_zip_is_refused_as_malformed(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"7z\xbc\xaf\x27\x1c" + os.urandom(100))
    with pytest.raises(MalformedFile) as exc:
        sniff(path)
    assert "7z" in exc.value.message


def test_truncated_zip_and_truncated_onnx_are_malformed(tmp_path):
    from tests.runtime.fixtures_models import build_pt2

    pt2 = build_pt2(tmp_path).read_bytes()
    (tmp_path / "cut.pt2").write_bytes(pt2[: len(pt2) // 2])
    big = helper.make_tensor("w", TensorProto.FLOAT, [64, 64], np.ones(4096, np.float32).tobytes(),
                             raw=True)  # fmt: skip
    model = onnx.load(tiny_onnx(tmp_path / "t.onnx"))
    model.graph.initializer.append(big)
    data = model.SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    for name in ("cut.pt2", "cut.onnx"):
        with pytest.raises(MalformedFile):
            sniff(tmp_path / name)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world, not a model", struct.pack("<Q", 2) + b"{}" + b"\0" * 8],
    ids=["empty", "text", "bare-safetensors"],
)
def test_other_content_is_refused_with_the_accepted_formats(tmp_path, content):
    path = tmp_path / "upload"
    path.write_bytes(content)
    with pytest.raises(ModelCheckError) as exc:
        sniff(path)
    assert exc.value.code in ("unsupported_format", "malformed_file")
    assert "config.json" in exc.value.message
