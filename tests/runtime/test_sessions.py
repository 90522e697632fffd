"""The session pool loads each artifact once, warms it up, and evicts by its memory budget."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inference.runtime.external_weights import ModelFile
from inference.runtime.sessions import SessionPool, threads_per_session
from inference.runtime.signature import signature_from_onnx


def mlp_bytes(hidden: int = 8, seed: int = 0) -> bytes:
    """x[batch, 4] -> Relu(x @ W1 + b1) @ W2 -> y[batch, 3]; `hidden` scales the file size."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, hidden)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((hidden, 3)).astype(np.float32), "W2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "W2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


class CountingLoader:
    def __init__(self, artifacts: dict[str, bytes]) -> None:
        self.artifacts = artifacts
        self.calls: list[tuple] = []
        self._lock = threading.Lock()

    def __call__(self, key):
        with self._lock:
            self.calls.append(key)
        return self.artifacts[key[1]]


def test_same_artifact_is_served_from_one_session():
    loader = CountingLoader({"sha-a": mlp_bytes()})
    pool = SessionPool(memory_budget_bytes=10**8, loader=loader)

    first = pool.get(1, "sha-a")
    second = pool.get(1, "sha-a")

    assert first.session is second.session
    assert loader.calls == [(1, "sha-a")]
    assert pool.snapshot()["loads"] == 1 and pool.snapshot()["hits"] == 1


def test_loaded_session_is_warmed_up_and_knows_its_signature():
    pool = SessionPool(memory_budget_bytes=10**8, loader=CountingLoader({"s": mlp_bytes()}))
    entry = pool.get(7, "s")
    assert entry.warmed
    assert entry.signature == {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3]}],
        "batched": True,
    }
    assert entry.signature == signature_from_onnx(mlp_bytes())
    (y,) = entry.session.run(None, {"x": np.ones((5, 4), np.float32)})
    assert y.shape == (5, 3)


def test_a_model_path_is_accepted_as_well_as_bytes(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(mlp_bytes())
    pool = SessionPool(memory_budget_bytes=10**8, loader=lambda key: path)
    assert pool.get(1, "s").size_bytes == int(path.stat().st_size * pool.memory_factor)


def test_a_loader_may_lend_a_file_only_while_the_session_is_created(tmp_path):
    # The inference worker's loader: a decrypted temporary file, deleted right after the load.
    lent: list[Path] = []

    @contextmanager
    def loader(key):
        folder = tmp_path / "lent"
        folder.mkdir()
        path = folder / "model.onnx"
        path.write_bytes(mlp_bytes())
        lent.append(path)
        try:
            yield ModelFile(path=path, size=1000)
        finally:
            shutil.rmtree(folder)

    pool = SessionPool(memory_budget_bytes=10**8, loader=loader)
    entry = pool.get(1, "s")
    assert entry.size_bytes == int(1000 * pool.memory_factor), "charged what the loader said it stands for"
    assert lent and not lent[0].exists()
    assert entry.session.run(None, {"x": np.ones((2, 4), np.float32)})[0].shape == (2, 3)


def test_least_recently_used_session_is_evicted_when_over_budget():
    artifacts = {f"sha-{i}": mlp_bytes(hidden=1000, seed=i) for i in range(3)}
    size = len(artifacts["sha-0"])
    loader = CountingLoader(artifacts)
    # Room for two models (each charged size x factor 1.0), not three.
    pool = SessionPool(memory_budget_bytes=int(size * 2.5), loader=loader, memory_factor=1.0)

    pool.get(0, "sha-0")
    pool.get(1, "sha-1")
    pool.get(0, "sha-0")  # 0 is now more recent than 1
    pool.get(2, "sha-2")  # over budget: 1 goes

    assert (0, "sha-0") in pool and (2, "sha-2") in pool
    assert (1, "sha-1") not in pool
    assert pool.snapshot()["evictions"] == 1
    pool.get(1, "sha-1")  # comes back by loading again
    assert loader.calls.count((1, "sha-1")) == 2


def test_a_model_larger_than_the_budget_is_still_served_alone():
    loader = CountingLoader({"a": mlp_bytes(seed=1), "b": mlp_bytes(seed=2)})
    pool = SessionPool(memory_budget_bytes=10, loader=loader)
    pool.get(1, "a")
    entry = pool.get(2, "b")
    assert len(pool) == 1 and (2, "b") in pool
    assert entry.session.run(None, {"x": np.ones((1, 4), np.float32)})[0].shape == (1, 3)


def test_concurrent_first_requests_load_the_model_once_and_all_get_results():
    loader = CountingLoader({"a": mlp_bytes(seed=1), "b": mlp_bytes(seed=2)})
    pool = SessionPool(memory_budget_bytes=10**8, loader=loader)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)

    def call(i: int) -> np.ndarray:
        entry = pool.get(i % 2, "ab"[i % 2])
        return entry.session.run(None, {"x": x})[0]

    with ThreadPoolExecutor(16) as executor:
        results = list(executor.map(call, range(64)))

    assert sorted(loader.calls) == [(0, "a"), (1, "b")]
    reference = [pool.get(i, "ab"[i]).session.run(None, {"x": x})[0] for i in range(2)]
    for i, y in enumerate(results):
        np.testing.assert_allclose(y, reference[i % 2], rtol=1e-6)


def test_a_failed_load_is_reported_and_retried_next_time():
    attempts = []

    def flaky(key):
        attempts.append(key)
        if len(attempts) == 1:
            raise OSError("artifact store unavailable")
        return mlp_bytes()

    pool = SessionPool(memory_budget_bytes=10**8, loader=flaky)
    with pytest.raises(OSError):
        pool.get(1, "s")
    assert pool.get(1, "s").warmed
    assert pool.snapshot()["load_failures"] == 1


def test_crash_counter_counts_per_version():
    pool = SessionPool(memory_budget_bytes=1, loader=None)
    assert [pool.record_crash("v1") for _ in range(3)] == [1, 2, 3]
    assert pool.record_crash("v2") == 1


def test_threads_are_split_between_worker_processes():
    pool = SessionPool(memory_budget_bytes=1, worker_processes=64)
    assert pool.intra_op_threads == 1
    assert threads_per_session(1) >= threads_per_session(2) >= 1
    assert pool.session_options().intra_op_num_threads == 1
