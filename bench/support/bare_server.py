"""The bare floor of HTTP serving on this machine: a WSGI app that runs the model in-process.

bench/serving.py serves the same ONNX file with this app under the same gunicorn settings as the
platform's web process. It does what any v2 server must do for a call (read the request and
decode Triton's binary tensor extension, `session.run` with the worker's thread settings, encode
the binary response, all with the platform's own tensor code) and nothing the platform adds: no
key, entitlement, rate limit, quota, ledger, receipt, sandboxed worker process or queue hop. Its ratio to raw ORT is the ceiling a Python HTTP
server reaches on these cores, against which the platform's own ratio can be read.

Run: MODEL_PATH=model.onnx gunicorn bench.support.bare_server:application -k gthread --threads 32
"""

from __future__ import annotations

import os

import onnxruntime as ort

from inference.runtime.sessions import SessionPool
from inference.runtime.tensors import decode_request, encode_response

session = ort.InferenceSession(os.environ["MODEL_PATH"], SessionPool(memory_budget_bytes=1).session_options(),
                               providers=["CPUExecutionProvider"])
output_names = [o.name for o in session.get_outputs()]


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET":  # readiness
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    request = decode_request(body, int(environ["HTTP_INFERENCE_HEADER_CONTENT_LENGTH"]))
    names = request.output_names(output_names)
    outputs = dict(zip(names, session.run(names, request.inputs), strict=True))
    payload, json_length = encode_response("bare", None, outputs, binary_outputs=request.binary_outputs(names))
    headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(payload)))]
    if json_length is not None:
        headers.append(("Inference-Header-Content-Length", str(json_length)))
    start_response("200 OK", headers)
    return [payload]
