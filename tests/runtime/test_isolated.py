"""The isolated runner: one model in a child process, whose death is evidence against it."""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

import numpy as np
import onnxruntime as ort
import pytest

from inference.runtime.isolated import IsolatedCrash, IsolatedError, IsolatedRunner, IsolatedTimeout
from inference.runtime.tensors import pack, unpack
from tests.e2e.test_inference_security import slow_onnx
from tests.factories import tiny_onnx


def model_file(tmp_path, data: bytes):
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    return path


def test_an_isolated_run_answers_what_onnx_runtime_answers_in_process(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    runner = IsolatedRunner(model_file(tmp_path, tiny_onnx()), threads=1)
    try:
        outputs, run_ms = runner.run(pack({"x": x}), ["y"], timeout=30)
        again, _ = runner.run(pack({"x": x + 1}), None, timeout=30)
    finally:
        runner.close()
    direct = ort.InferenceSession(tiny_onnx(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(unpack(outputs)["y"], direct.run(["y"], {"x": x})[0])
    np.testing.assert_array_equal(unpack(again)["y"], direct.run(["y"], {"x": x + 1})[0])
    assert run_ms >= 0


def test_a_child_that_dies_mid_run_is_a_crash_and_the_next_run_gets_a_fresh_child(tmp_path):
    opened: list[str] = []

    @contextmanager
    def model():  # as the worker's: a file that only exists while a child loads it
        path = model_file(tmp_path, slow_onnx(layers=400))
        opened.append(path.name)
        try:
            yield path
        finally:
            path.unlink()

    runner = IsolatedRunner(model, threads=1)
    tiny_input = pack({"x": np.ones((1, 1), dtype=np.float32)})
    crashed: list[BaseException] = []

    def call() -> None:
        try:
            runner.run(tiny_input, ["y"], timeout=120)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            crashed.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 30
    while runner.pid is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first_pid = runner.pid
    time.sleep(1.0)  # loaded and running its many MatMuls
    os.kill(first_pid, signal.SIGSEGV)  # what a crashing kernel does to the process
    caller.join(60)
    assert len(crashed) == 1 and isinstance(crashed[0], IsolatedCrash)
    assert crashed[0].signal_name == "SIGSEGV"
    try:
        with pytest.raises(IsolatedTimeout):  # a fresh child; too slow for this budget
            runner.run(tiny_input, ["y"], timeout=0.5)
        assert runner.pid != first_pid
        assert opened == ["model.onnx", "model.onnx"], "the model is had again for the fresh child"
        assert not (tmp_path / "model.onnx").exists()
    finally:
        runner.close()


def test_a_rejected_input_is_an_error_not_a_crash_and_the_child_lives_on(tmp_path):
    runner = IsolatedRunner(model_file(tmp_path, tiny_onnx()), threads=1)
    try:
        with pytest.raises(IsolatedError) as refused:
            runner.run(pack({"x": np.ones((2, 3), dtype=np.float32)}), ["y"], timeout=30)
        pid = runner.pid
        outputs, _ = runner.run(pack({"x": np.ones((2, 4), dtype=np.float32)}), ["y"], timeout=30)
        assert runner.pid == pid, "the same child answered"
    finally:
        runner.close()
    assert refused.value.kind in ("InvalidArgument", "Fail", "RuntimeException")
    assert unpack(outputs)["y"].shape == (2, 2)
