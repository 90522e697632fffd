"""The bare floor of HTTP serving on this machine: a WSGI app that runs the model in-process.

bench/serving.py serves the same ONNX file with this app under the same gunicorn settings as the
platform's web process. It does what any v2 server must do for a call (read the request, decode
Triton's binary tensor extension, `session.run` with the worker's thread settings, encode the
binary response) and nothing the platform adds: no key, entitlement, rate limit, quota, ledger,
receipt, sandboxed worker process or queue hop. Its ratio to raw ORT is the ceiling a Python HTTP
server reaches on these cores, against which the platform's own ratio can be read.

Run: MODEL_PATH=model.onnx gunicorn bench.support.bare_server:application -k gthread --threads 32
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort

from inference.runtime.sessions import SessionPool

DTYPES = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32, "FP64": np.float64}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}

session = ort.InferenceSession(os.environ["MODEL_PATH"], SessionPool(memory_budget_bytes=1).session_options(),
                               providers=["CPUExecutionProvider"])
output_names = [o.name for o in session.get_outputs()]


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET":  # readiness
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    header_length = int(environ["HTTP_INFERENCE_HEADER_CONTENT_LENGTH"])
    header = json.loads(body[:header_length])
    feed, offset = {}, header_length
    for spec in header["inputs"]:
        size = spec["parameters"]["binary_data_size"]
        array = np.frombuffer(body[offset:offset + size], dtype=DTYPES[spec["datatype"]])
        feed[spec["name"]] = array.reshape(spec["shape"])
        offset += size
    outputs = session.run(output_names, feed)
    blobs = [np.ascontiguousarray(a).tobytes() for a in outputs]
    reply = json.dumps({"model_name": "bare", "outputs": [
        {"name": n, "datatype": NAMES[a.dtype], "shape": list(a.shape), "parameters": {"binary_data_size": len(b)}}
        for n, a, b in zip(output_names, outputs, blobs, strict=True)]}).encode()
    payload = reply + b"".join(blobs)
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(payload))),
                              ("Inference-Header-Content-Length", str(len(reply)))])
    return [payload]
