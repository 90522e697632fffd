"""Memory stays flat (issue #15 item 2): a 1 GB model goes through a real web server (gunicorn, as
`make run` serves it) as a one-request upload, again as a resumable multipart upload (parts sealed,
then assembled on complete), and comes back as a fingerprinted licensed download, and the
serving processes' peak resident memory, read from their own accounting (`VmHWM` in
/proc/<pid>/status), grows by far less than the file. The conversion worker's scanning stage of
the same upload is held to the same bound.

The model is a real ONNX protobuf whose 1 GB initializer is a sparse hole on disk: written in
milliseconds, read back as zeros, deleted afterwards.
"""

import hashlib
import http.client
import json
import math
import subprocess
import time
from pathlib import Path

import pytest
from django.utils import timezone
from onnx import TensorProto, helper

from inference.runtime import protowalk
from marketplace import fingerprint
from marketplace.artifacts import artifact_delete
from marketplace.models import ModelVersion
from tests.factories import TINY_SIGNATURE, published_model
from tests.llm_serving import WebServer
from tests.marketplace.test_entitlements import subscribe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

WEIGHT_BYTES = 2**30
GROWTH_BOUND = 200 * 2**20  # a fifth of what one in-memory copy of the file would add
WORKER_IMPORTS = 200 * 2**20


def sparse_onnx(path: Path, weight_bytes: int) -> Path:
    """A valid ONNX model (y = x) carrying an unused float initializer of `weight_bytes` zeros."""
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    with path.open("wb") as fh:
        write_with_sparse_initializer(fh, graph, "unused_weight", [weight_bytes // 4])
    return path


def write_with_sparse_initializer(fh, graph, name: str, dims: list[int]) -> int:
    """Write a model of `graph` plus a float initializer `name` of `dims` zeros, without holding
    it: the initializer sits in a second `graph` field, which protobuf merges into the first, and
    its zeros are a sparse hole. Returns the file offset where the weights start."""
    weight_bytes = 4 * math.prod(dims)
    head = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    tensor_head = b"".join(protowalk.encode_varint(1 << 3) + protowalk.encode_varint(d) for d in dims)
    tensor_head += (protowalk.encode_varint(2 << 3) + protowalk.encode_varint(TensorProto.FLOAT)
                    + protowalk.encode_bytes_field(8, name.encode())
                    + protowalk.encode_varint(9 << 3 | 2) + protowalk.encode_varint(weight_bytes))  # raw_data
    tensor_len = len(tensor_head) + weight_bytes
    initializer_head = protowalk.encode_varint(5 << 3 | 2) + protowalk.encode_varint(tensor_len)
    graph_len = len(initializer_head) + tensor_len
    fh.write(head + protowalk.encode_varint(7 << 3 | 2) + protowalk.encode_varint(graph_len)
             + initializer_head + tensor_head)
    weights_at = fh.tell()
    fh.truncate(weights_at + weight_bytes)
    return weights_at


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def peak_rss(pid: int) -> int:
    """The process's own high-water mark of resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def peaks(pids: list[int]) -> dict[int, int]:
    return {pid: peak_rss(pid) for pid in pids}


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--fail-with-body", *args], capture_output=True, check=True, timeout=600)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


class FileSlice:
    """`size` bytes of `path` from `offset`, read in blocks by http.client (never whole)."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self.fh, self.left = path.open("rb"), size
        self.fh.seek(offset)

    def read(self, n: int = -1) -> bytes:
        chunk = self.fh.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(chunk)
        return chunk

    def sha256(self) -> str:
        start, left, digest = self.fh.tell(), self.left, hashlib.sha256()
        while chunk := self.read(2**20):
            digest.update(chunk)
        self.fh.seek(start)
        self.left = left
        return digest.hexdigest()


def multipart_upload(base: str, secret: str, slug: str, version: str, path: Path) -> dict:
    """The resumable protocol, as the CLI speaks it: open, PUT every part, complete."""
    size = path.stat().st_size
    opened = json.loads(curl("-H", f"Authorization: Bearer {secret}", "-H", "Content-Type: application/json",
                             "--data", json.dumps({"version": version, "files": [
                                 {"path": path.name, "size": size, "sha256": sha256_of(path)}]}),
                             f"{base}/api/v1/vendor/models/{slug}/uploads").stdout)
    part_size = opened["part_size"]
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=600)
    try:
        for number in range(opened["files"][0]["parts"]):
            part = FileSlice(path, number * part_size, min(part_size, size - number * part_size))
            connection.request("PUT", f"/api/v1/vendor/uploads/{opened['id']}/files/0/parts/{number}", body=part,
                               headers={"Authorization": f"Bearer {secret}", "X-Part-SHA256": part.sha256(),
                                        "Content-Type": "application/octet-stream",
                                        "Content-Length": str(part.left)})
            answer = connection.getresponse()
            assert answer.status == 200, answer.read()
            answer.read()
            part.fh.close()
    finally:
        connection.close()
    return json.loads(curl("-X", "POST", "-H", f"Authorization: Bearer {secret}",
                           f"{base}/api/v1/vendor/uploads/{opened['id']}/complete").stdout)


def wait_scanned(version: ModelVersion, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version.refresh_from_db()
        scanning = version.stages.get("scanning", {})
        if scanning.get("state") in ("done", "failed") or version.status == ModelVersion.Status.FAILED:
            return scanning
        time.sleep(1)
    raise AssertionError(f"scanning did not finish: {version.stages}")


def test_a_1gb_upload_and_a_1gb_licensed_download_leave_the_web_and_worker_memory_flat(
        vendor, buyer, start_worker, tmp_path):
    model = published_model(vendor.organization, slug="big", weight_download=True)
    subscribe(buyer, model, model.plans.get())
    big = sparse_onnx(tmp_path / "big.onnx", WEIGHT_BYTES)
    web = WebServer()
    # Started first: it takes the upload's pipeline task the moment the upload commits.
    worker = start_worker(queues="convert", pool="prefork", concurrency=1, name="flat")
    worker_pids = [worker.pid, *children(worker.pid)]
    worker_before = peaks(worker_pids)
    saved: list[str] = []
    try:
        api = f"{web.base}/api/v1"
        workers = children(web.process.pid)
        for _ in range(4):  # warm both workers up: imports and first-request caches are not the file
            curl("-o", "/dev/null", "-H", f"Authorization: Bearer {buyer.secret}",
                 f"{api}/catalog/models/{vendor.organization.slug}/big/download")
        before = peaks(workers)

        uploaded = json.loads(curl(
            "-H", f"Authorization: Bearer {vendor.secret}", "-F", "version=2.0.0", "-F", f"file=@{big}",
            f"{api}/vendor/models/big/versions").stdout)
        assert uploaded["version"] == "2.0.0"
        version = ModelVersion.objects.get(model=model, version="2.0.0")
        assert version.source_size == big.stat().st_size
        saved.append(version.source_artifact)
        resumable = multipart_upload(web.base, vendor.secret, "big", "2.1.0", big)
        assert resumable["version"] == "2.1.0"
        assert ModelVersion.objects.get(model=model, version="2.1.0").source_sha256 == version.source_sha256

        # The same bytes, stored as a ready version's ONNX (content-addressed: no second copy).
        ModelVersion.objects.create(
            model=model, version="3.0.0", status=ModelVersion.Status.READY, source_format="onnx",
            onnx_artifact=version.source_artifact, onnx_sha256=version.source_sha256,
            onnx_size=version.source_size, signature=TINY_SIGNATURE, opset=17, ready_at=timezone.now())
        copy = tmp_path / "copy.onnx"
        headers = curl("-o", str(copy), "-D", "-", "-H", f"Authorization: Bearer {buyer.secret}",
                       f"{api}/catalog/models/{vendor.organization.slug}/big/download?version=3.0.0").stdout.decode()
        after = peaks(workers)

        growth = {pid: after[pid] - before[pid] for pid in workers}
        print(f"web workers' peak RSS before {before}, after {after}, growth {growth}")
        assert max(growth.values()) < GROWTH_BOUND, growth
        assert copy.stat().st_size > WEIGHT_BYTES
        assert f"x-content-sha256: {sha256_of(copy)}" in headers.lower()
        reading = fingerprint.read(copy)
        assert reading.authentic and reading.payload["org"] == buyer.organization.pk

        # The conversion worker's scanning stage: decrypt, sniff, unpack and check the same 1 GB
        # (the checks that parse it whole run in a sandboxed child, which is not the worker).
        scanning = wait_scanned(version)
        assert scanning.get("state") == "done", version.stages
        worker_growth = {pid: peak_rss(pid) - worker_before[pid] for pid in worker_pids}
        print(f"conversion worker's peak RSS before {worker_before}, growth {worker_growth}")
        # Its first task also imports the pipeline's modules (numpy, onnx, ...): allowed for.
        assert max(worker_growth.values()) < GROWTH_BOUND + WORKER_IMPORTS, worker_growth
    finally:
        web.stop()
        for leftover in tmp_path.glob("*.onnx"):  # 1 GB each, the copy not sparse
            leftover.unlink()
        for name in saved:
            artifact_delete(organization=vendor.organization, name=name)
