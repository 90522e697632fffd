"""The servers bench/peers/run.py compares, each as: how to start it, the request it takes for one
row of all-MiniLM-L6-v2 (batch 1, sequence 32) and how to read the embedding out of its answer.

Peers run from their own virtual environments (bench/.venvs/<peer>, `make bench-peers`) with the
repository on PYTHONPATH; Modelbay is the stack bench/support/stack.py launches, called with a
real key through its whole metered gateway.
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.peers.common import INPUTS, MODEL_NAME, OUTPUT
from bench.support.load import post, post_call
from bench.support.stack import ROOT, answers, spawn

VENVS = ROOT / "bench" / ".venvs"
PEERS = ("bentoml", "pytriton", "kserve")


@dataclass
class Server:
    name: str
    port: int
    path: str
    body: bytes
    headers: dict[str, str]
    read: Callable[[bytes], np.ndarray]
    pids: dict[str, int] = field(default_factory=dict)  # process trees whose CPU is counted per request

    def make_call(self) -> Callable[[], Callable[[], None]]:
        return post_call(self.port, self.path, self.body, self.headers)

    def embedding(self) -> np.ndarray:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return self.read(post(conn, self.path, self.body, self.headers))


def v2_json(feed: dict[str, np.ndarray]) -> bytes:
    """The KServe v2 JSON request every v2 server here takes (Modelbay, Triton, KServe)."""
    return json.dumps({"inputs": [{"name": n, "datatype": "INT64", "shape": list(feed[n].shape),
                                   "data": feed[n].ravel().tolist()} for n in INPUTS]}).encode()


def read_v2(body: bytes) -> np.ndarray:
    (output,) = [o for o in json.loads(body)["outputs"] if o["name"] == OUTPUT]
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


def modelbay(port: int, secret: str, feed: dict[str, np.ndarray]) -> Server:
    return Server("modelbay", port, "/v2/models/bench-vendor.minilm/infer", v2_json(feed),
                  {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}, read_v2)


def peer(name: str, port: int, feed: dict[str, np.ndarray]) -> Server:
    json_headers = {"Content-Type": "application/json"}
    if name == "bentoml":  # BentoML's own JSON: the API's parameters by name
        body = json.dumps({n: feed[n].tolist() for n in INPUTS}).encode()
        return Server(name, port, "/embed", body, json_headers, lambda b: np.asarray(json.loads(b), dtype=np.float32))
    return Server(name, port, f"/v2/models/{MODEL_NAME}/infer", v2_json(feed), json_headers, read_v2)


def start_peer(name: str, port: int, model_path: Path, *, gpu: bool) -> subprocess.Popen:
    venv = VENVS / name
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{venv} is missing: run `make bench-peers`, which makes the peers' environments.")
    env = {"PYTHONPATH": str(ROOT), "MODEL_PATH": str(model_path), "PEER_PORT": str(port),
           "MODELBAY_BENCH_GPU": "1" if gpu else "0"}
    if name == "bentoml":
        command, ready = [str(venv / "bin" / "bentoml"), "serve", "bench.peers.bentoml_service:MiniLM",
                          "--port", str(port)], "/readyz"
    else:
        command, ready = [str(python), f"bench/peers/{name}_server.py"], f"/v2/models/{MODEL_NAME}/ready"
    if name == "pytriton":  # the Python backend stub links the interpreter's libpython3.11.so
        env["LD_LIBRARY_PATH"] = subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"], text=True).strip()
    return spawn(command, name, lambda: answers(port, ready), env=env)


