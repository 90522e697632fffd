"""Memory stays flat while an inference worker loads a large model (issue #15 item 2).

A ready version whose ONNX holds a 400 MB embedding table (a Gather of one row of it, so the graph
uses the weight and nothing folds it away) is served by a real worker process, first in the
worker's own session pool, then (as a suspect version) in an isolated child. The worker's peak
resident memory (`VmHWM`, read the way test_flat_memory reads it) may grow by less than 1.3x the
model in process, and by less than a quarter of it for the isolated child (which opens the
model itself). Before, decrypting it whole (one copy), then parsing it (a second) and copying its
initializers (a third) grew the worker by about 3.7-4x the model, and by 5x when the model
travelled base64-encoded in a JSON frame to the isolated child.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone
from onnx import TensorProto, helper

from inference.serving.workers import quarantine
from marketplace.artifacts import artifact_delete, artifact_save
from marketplace.models import ModelVersion
from tests.e2e.test_flat_memory import children, peak_rss, write_with_sparse_initializer
from tests.factories import published_model
from tests.inference.serving import body, oip_client, post_infer, subscribe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

ROWS, WIDTH = 100_000, 1000  # float32: 400 MB
WEIGHT_BYTES = ROWS * WIDTH * 4
MARKED_ROW = 3  # ones; every other row is zeros
GROWTH_FACTOR = 1.3  # in process: the session may hold the weights, but no second copy
ISOLATED_FACTOR = 0.25  # isolated: the child holds them; the worker only decrypts chunk-wise


def embedding_onnx(path: Path) -> Path:
    """y = W[x] for a float W of ROWS x WIDTH, written without holding W: the initializer sits in
    a second `graph` field (protobuf merges it into the first) whose zeros are a sparse hole."""
    graph = helper.make_graph([helper.make_node("Gather", ["W", "x"], ["y"], axis=0)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, WIDTH])])
    with path.open("wb") as fh:
        weights_at = write_with_sparse_initializer(fh, graph, "W", [ROWS, WIDTH])
        fh.seek(weights_at + MARKED_ROW * WIDTH * 4)
        fh.write(np.ones(WIDTH, dtype=np.float32).tobytes())
    return path


def big_version(model, path: Path) -> ModelVersion:
    artifact = artifact_save(organization=model.organization, source=path, kind="onnx")
    return ModelVersion.objects.create(
        model=model, version="2.0.0", status=ModelVersion.Status.READY, source_format="onnx",
        onnx_artifact=artifact.name, onnx_sha256=artifact.sha256, onnx_size=artifact.size, opset=17,
        ready_at=timezone.now(), benchmark={"batches": {"1": {"p50_ms": 1, "p95_ms": 2}}},
        signature={"inputs": [{"name": "x", "datatype": "INT64", "shape": [1]}],
                   "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, WIDTH]}], "batched": False})


def serve_row(buyer, version: str = "2.0.0") -> None:
    answer = post_infer(oip_client(buyer), "vendor-co.big", body([MARKED_ROW], datatype="INT64"), version=version)
    assert answer.status_code == 200, answer.content
    assert answer.json()["outputs"][0]["data"] == [1.0] * WIDTH, "the row of ones, read from the weights"


def warm_up(buyer) -> None:
    """Imports, ONNX Runtime's start-up and first-request caches are not the model."""
    for _ in range(3):
        warm = post_infer(oip_client(buyer), "vendor-co.big", body(np.ones((1, 4))), version="1.0.0")
        assert warm.status_code == 200, warm.content


def test_a_worker_loading_a_400mb_model_grows_by_less_than_the_model_in_process_and_isolated(
        vendor, buyer, fresh_serving_caches, start_worker, settings, tmp_path):
    settings.INFERENCE_TIMEOUT_SECONDS = 300
    model = published_model(vendor.organization, slug="big")
    subscribe(buyer, model, "payg")
    source = embedding_onnx(tmp_path / "big.onnx")
    version = big_version(model, source)
    source.unlink()
    bound = GROWTH_FACTOR * WEIGHT_BYTES
    try:
        worker = start_worker(queues="infer.cpu", concurrency=1, name="flat-serving")
        warm_up(buyer)
        before = peak_rss(worker.pid)
        serve_row(buyer)
        serve_row(buyer)  # the cached session: no second load
        growth = peak_rss(worker.pid) - before
        print(f"in-process load: worker peak RSS grew {growth / 2**20:.0f} MiB for a "
              f"{WEIGHT_BYTES / 2**20:.0f} MiB model")
        assert growth < bound, f"{growth / WEIGHT_BYTES:.2f}x the model"
        worker.stop()

        # A suspect version runs in an isolated child: the child opens the model itself.
        quarantine.suspect(version_ids={version.pk}, incident="worker:test:1")
        worker = start_worker(queues="infer.cpu", concurrency=1, name="flat-isolated")
        warm_up(buyer)
        before = peak_rss(worker.pid)
        serve_row(buyer)
        growth = peak_rss(worker.pid) - before
        isolated = [pid for pid in children(worker.pid) if pid != worker.pid]
        print(f"isolated load: worker peak RSS grew {growth / 2**20:.0f} MiB; children {isolated}")
        assert isolated, "the suspect version ran in an isolated child"
        assert growth < ISOLATED_FACTOR * WEIGHT_BYTES, f"{growth / WEIGHT_BYTES:.2f}x the model"
        assert not list(Path(tempfile.gettempdir()).glob(f"mb-onnx-*-{version.pk}-*")), "decrypted files left"
    finally:
        artifact_delete(organization=vendor.organization, name=version.onnx_artifact)
