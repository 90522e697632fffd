"""What every peer server shares: the model file and the worker's own ONNX Runtime session.

Each peer runs in its own virtual environment (bench/.venvs/<peer>, made by `make bench-peers`)
with the repository on PYTHONPATH, so the session comes from the same `SessionPool` options the
inference worker uses (intra-op threads = cores, sequential, all graph optimizations, no
spinning) and, with MODELBAY_BENCH_GPU=1, the same CUDA-first provider list.
"""

from __future__ import annotations

import os

import onnxruntime as ort

from inference.runtime.sessions import SessionPool

MODEL_NAME = "minilm"
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "sentence_embedding"


def port() -> int:
    return int(os.environ["PEER_PORT"])


def session() -> ort.InferenceSession:
    pool = SessionPool(memory_budget_bytes=1, use_cuda=os.environ.get("MODELBAY_BENCH_GPU") == "1")
    return ort.InferenceSession(os.environ["MODEL_PATH"], pool.session_options(), providers=pool.providers)
