"""The inference worker's loader: a version's encrypted ONNX, as a private file only while the
session pool creates its session, single-file or with its external data beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from django.utils import timezone

from inference.runtime.sessions import SessionPool
from inference.serving.workers.worker_state import artifact_file, sweep_orphaned_models
from marketplace.artifacts import artifact_save
from marketplace.models import ModelVersion
from tests.factories import published_model, ready_version
from tests.runtime.test_sessions import mlp_bytes

pytestmark = pytest.mark.django_db


def leftovers(version) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"mb-onnx-*-{version.pk}-*"))


def expected(data: bytes, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_a_single_file_version_is_served_from_a_file_deleted_once_the_session_exists(vendor):
    data = mlp_bytes(hidden=100_000)  # W1 1.6 MB and W2 1.2 MB move out; b1 (400 KB) stays inline
    version = ready_version(published_model(vendor.organization), "2.0.0", onnx_bytes=data)
    pool = SessionPool(memory_budget_bytes=10**9, loader=artifact_file)

    entry = pool.get(version.pk, version.onnx_sha256)

    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(entry.session.run(None, {"x": x})[0], expected(data, x), rtol=1e-5)
    assert entry.size_bytes >= int(len(data) * pool.memory_factor)
    assert not leftovers(version)


def test_a_version_with_external_data_is_unpacked_beside_its_data_file(vendor, tmp_path):
    data = mlp_bytes(hidden=100_000)
    graph = onnx.load_from_string(data)
    onnx.save(graph, str(tmp_path / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=1024)
    bundle = tmp_path / "model.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as zf:  # as the pipeline stores it
        for name in ("model.onnx", "model.onnx.data"):
            zf.write(tmp_path / name, name)
    artifact = artifact_save(organization=vendor.organization, source=bundle, kind="onnx")
    model = published_model(vendor.organization)
    version = ModelVersion.objects.create(
        model=model, version="2.0.0", status=ModelVersion.Status.READY, source_format="onnx",
        onnx_artifact=artifact.name, onnx_sha256=artifact.sha256, onnx_size=artifact.size,
        signature=model.versions.get(version="1.0.0").signature, opset=17, ready_at=timezone.now(),
        optimization={"serving_layout": "onnx_zip"})
    pool = SessionPool(memory_budget_bytes=10**9, loader=artifact_file)

    entry = pool.get(version.pk, version.onnx_sha256)

    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(entry.session.run(None, {"x": x})[0], expected(data, x), rtol=1e-5)
    assert not leftovers(version)


def test_a_stale_key_is_refused_and_leaves_nothing(vendor):
    version = ready_version(published_model(vendor.organization), "2.0.0")
    with pytest.raises(LookupError, match="changed"), artifact_file((version.pk, "0" * 64)):
        pass
    assert not leftovers(version)


def test_the_decrypted_models_of_a_killed_worker_are_swept_and_a_live_ones_kept():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a worker that died (kill -9) while it was loading a model
    orphan = Path(tempfile.mkdtemp(prefix=f"mb-onnx-{dead.pid}-7-"))
    (orphan / "model.onnx").write_bytes(b"decrypted weights")
    live = Path(tempfile.mkdtemp(prefix=f"mb-onnx-{os.getpid()}-7-"))
    try:
        assert sweep_orphaned_models() >= 1
        assert not orphan.exists()
        assert live.exists(), "a model this (living) process is loading stays"
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(orphan, ignore_errors=True)
