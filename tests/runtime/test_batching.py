"""Concurrent callers share runs but each gets exactly the rows of its own request."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from inference.runtime.batching import DynamicBatcher


def _session(nodes, inputs, outputs, inits) -> ort.InferenceSession:
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def mlp() -> ort.InferenceSession:
    rng = np.random.default_rng(0)
    return _session(
        [helper.make_node("MatMul", ["x", "W1"], ["h0"]),
         helper.make_node("Add", ["h0", "b1"], ["h1"]),
         helper.make_node("Relu", ["h1"], ["h2"]),
         helper.make_node("MatMul", ["h2", "W2"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(rng.standard_normal((4, 16)).astype(np.float32), "W1"),
         numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b1"),
         numpy_helper.from_array(rng.standard_normal((16, 3)).astype(np.float32), "W2")],
    )


def lookup() -> ort.InferenceSession:
    """Two inputs, one INT64: y = table[idx] + x. An index >= 10 fails the whole run."""
    table = np.arange(40, dtype=np.float32).reshape(10, 4)
    return _session(
        [helper.make_node("Gather", ["table", "idx"], ["rows"]),
         helper.make_node("Add", ["rows", "x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(table, "table")],
    )


def pooled_sequence() -> ort.InferenceSession:
    """x[batch, seq, 4] -> mean over seq -> y[batch, 4]: rows of unequal length cannot stack."""
    return _session(
        [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [],
    )


def _concurrently(n: int, fn):
    barrier = threading.Barrier(n)

    def call(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as executor:
        return list(executor.map(call, range(n)))


@pytest.mark.parametrize("adaptive", [False, True], ids=["full-window", "adaptive"])
def test_sixteen_concurrent_callers_each_get_their_own_rows(adaptive):
    session = mlp()
    batcher = DynamicBatcher(window_s=0.02, max_batch_size=64, adaptive=adaptive)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1 + i % 3, 4)).astype(np.float32) for i in range(16)]

    results = _concurrently(16, lambda i: batcher.run("mlp", session, {"x": inputs[i]}))

    for x, out in zip(inputs, results, strict=True):
        (direct,) = session.run(["y"], {"x": x})
        assert out["y"].shape == direct.shape
        np.testing.assert_allclose(out["y"], direct, rtol=1e-5, atol=1e-6)
    metrics = batcher.metrics()
    assert metrics["requests"] == 16
    if not adaptive:  # adaptive may start the first run before the others arrive
        assert max(metrics["batch_size_histogram"]) > 1
        assert metrics["runs"] < 16


def test_disabled_batching_runs_each_request_on_its_own():
    session = mlp()
    batcher = DynamicBatcher(enabled=False)
    xs = [np.full((2, 4), i, np.float32) for i in range(8)]

    results = _concurrently(8, lambda i: batcher.run("mlp", session, {"x": xs[i]}))

    for x, out in zip(xs, results, strict=True):
        np.testing.assert_allclose(out["y"], session.run(["y"], {"x": x})[0], rtol=1e-6)
    assert batcher.metrics()["batch_size_histogram"] == {1: 8}


def test_a_bad_request_fails_alone_and_its_neighbours_succeed():
    session = lookup()
    batcher = DynamicBatcher(window_s=0.05, adaptive=False)  # all eight share one batch
    bad = 5

    def call(i):
        idx = np.array([99 if i == bad else i], np.int64)
        future = batcher.submit("lookup", session, {"x": np.full((1, 4), i, np.float32),
                                                    "idx": idx})
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001
            return exc

    results = _concurrently(8, call)

    assert isinstance(results[bad], Exception)
    for i, out in enumerate(results):
        if i != bad:
            np.testing.assert_allclose(out["y"], [np.arange(4 * i, 4 * i + 4) + i])
    assert batcher.metrics()["fallbacks"] == 1  # the shared run failed, then each ran alone


def test_sequences_of_different_lengths_are_batched_only_with_equal_lengths():
    session = pooled_sequence()
    batcher = DynamicBatcher(window_s=0.05, adaptive=False)
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((1, 3 + i % 2, 4)).astype(np.float32) for i in range(8)]

    results = _concurrently(8, lambda i: batcher.run("seq", session, {"x": xs[i]}))

    for x, out in zip(xs, results, strict=True):
        np.testing.assert_allclose(out["y"], x.mean(axis=1), rtol=1e-5)
    assert batcher.metrics()["fallbacks"] == 0


def test_max_batch_size_caps_the_rows_in_one_run():
    session = mlp()
    batcher = DynamicBatcher(window_s=0.05, max_batch_size=64, adaptive=False)

    _concurrently(8, lambda i: batcher.run("mlp", session, {"x": np.ones((2, 4), np.float32)},
                                           max_batch_size=4))

    assert max(batcher.metrics()["batch_size_histogram"]) <= 2  # 2 requests x 2 rows


def test_model_with_fixed_batch_is_never_concatenated():
    session = _session(
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [],
    )
    batcher = DynamicBatcher(window_s=0.02, adaptive=False)
    xs = [np.full((1, 4), i - 3, np.float32) for i in range(6)]

    results = _concurrently(6, lambda i: batcher.run("fixed", session, {"x": xs[i]}))

    for x, out in zip(xs, results, strict=True):
        np.testing.assert_array_equal(out["y"], np.maximum(x, 0))
    assert batcher.metrics()["batch_size_histogram"] == {1: 6}


def test_requested_outputs_and_errors_reach_the_caller():
    batcher = DynamicBatcher()
    with pytest.raises(Exception, match="idx"):
        batcher.run("lookup", lookup(), {"x": np.zeros((1, 4), np.float32)})
    assert batcher.metrics()["runs"] == 1


def test_sequence_batches_hold_only_equal_lengths():
    session = pooled_sequence()
    batcher = DynamicBatcher(window_s=0.05, adaptive=False)
    _concurrently(8, lambda i: batcher.run(
        "seq", session, {"x": np.ones((1, 3 + i % 2, 4), np.float32)}))
    assert batcher.metrics()["batch_size_histogram"] == {4: 2}  # one run per length


def test_a_lone_caller_runs_in_its_own_thread_without_a_hand_off():
    ran_in: list[str] = []

    class RecordingSession:
        def get_inputs(self):
            return [SimpleNamespace(shape=["batch", 4])]

        def get_outputs(self):
            return [SimpleNamespace(name="y")]

        def run(self, names, feed):
            ran_in.append(threading.current_thread().name)
            return [feed["x"] * 2]

    batcher = DynamicBatcher()
    for i in range(3):
        out = batcher.run("lone", RecordingSession(), {"x": np.full((1, 4), i, np.float32)})
        np.testing.assert_array_equal(out["y"], np.full((1, 4), 2 * i, np.float32))
    assert ran_in == [threading.current_thread().name] * 3
    assert batcher.metrics()["batch_size_histogram"] == {1: 3}


class _OverlapCounter:
    """A real session whose runs cost at least `cpu_seconds` of the runner's CPU and last at least
    `seconds`, counting how many ran at once."""

    def __init__(self, session, *, seconds: float, cpu_seconds: float) -> None:
        self.session, self.seconds, self.cpu_seconds = session, seconds, cpu_seconds
        self.lock = threading.Lock()
        self.now = self.most = 0

    def __getattr__(self, name):
        return getattr(self.session, name)

    def run(self, names, feed):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            busy_until = time.thread_time() + self.cpu_seconds
            while time.thread_time() < busy_until:
                pass
            time.sleep(self.seconds)
            return self.session.run(names, feed)
        finally:
            with self.lock:
                self.now -= 1


def _two_waves(batcher: DynamicBatcher, session) -> None:
    """Twelve requests queued at once, twice: the first wave shows the batcher how long a run
    takes and that callers come in crowds; the second is the one that may overlap."""
    for _ in range(2):
        session.most = 0
        xs = [np.full((1, 4), i, np.float32) for i in range(12)]
        futures = [batcher.submit("mlp", session, {"x": x}) for x in xs]
        for x, future in zip(xs, futures, strict=True):
            np.testing.assert_allclose(future.result(timeout=10)["y"], session.session.run(["y"], {"x": x})[0],
                                       rtol=1e-5)


@pytest.mark.parametrize("runs_at_once", [1, 2, 3])
def test_a_queue_is_shared_by_at_most_runs_at_once_overlapping_runs(runs_at_once):
    session = _OverlapCounter(mlp(), seconds=0.05, cpu_seconds=0.003)
    batcher = DynamicBatcher(window_s=0.05, max_batch_size=64, adaptive=False, runs_at_once=runs_at_once)

    _two_waves(batcher, session)

    assert session.most == runs_at_once  # the second twelve were split between that many runs
    histogram = batcher.metrics()["batch_size_histogram"]
    assert sum(size * n for size, n in histogram.items()) == 24
    assert min(histogram) >= 12 // runs_at_once  # batches are whole shares, not single requests


def test_short_runs_never_overlap():
    # Each run lasts 50 ms but costs microseconds of CPU: a second run would only split batches.
    session = _OverlapCounter(mlp(), seconds=0.05, cpu_seconds=0.0)
    session.run(["y"], {"x": np.zeros((12, 4), np.float32)})  # ORT's first run of a shape allocates: slow
    batcher = DynamicBatcher(window_s=0.05, max_batch_size=64, adaptive=False, runs_at_once=2)

    _two_waves(batcher, session)

    assert session.most == 1
    assert batcher.metrics()["batch_size_histogram"] == {12: 2}


def test_a_lone_caller_still_runs_alone_when_runs_may_overlap():
    session = mlp()
    batcher = DynamicBatcher(runs_at_once=2)
    for i in range(3):
        out = batcher.run("mlp", session, {"x": np.full((1, 4), i, np.float32)})
        np.testing.assert_allclose(out["y"], session.run(["y"], {"x": np.full((1, 4), i, np.float32)})[0],
                                   rtol=1e-5)
    assert batcher.metrics()["batch_size_histogram"] == {1: 3}
