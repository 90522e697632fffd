"""Servers that do nothing but take one request and answer it, for bench/peers/front_ends.py:
the floor each front end puts under every call before any gateway or model work.

- `wsgi_app` for gunicorn (the web process's settings: gthread, 1 worker, 32 threads);
- `asgi_app` for uvicorn (KServe's front end);
- `serve_grpc` for grpcio's sync server (what a v2 gRPC endpoint in Python would sit on).

Each reads the whole request and answers ANSWER_BYTES, about a MiniLM embedding as v2 JSON.
"""

from __future__ import annotations

import sys

ANSWER_BYTES = 6 * 1024
ANSWER = b"0" * ANSWER_BYTES
GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"


def wsgi_app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(ANSWER_BYTES))])
    return [ANSWER]


async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(ANSWER_BYTES).encode())]})
    await send({"type": "http.response.body", "body": ANSWER})


def serve_grpc(port: int, threads: int = 32) -> None:
    """Bytes in, bytes out: the transport's floor, without protobuf (which a real endpoint adds)."""
    from concurrent import futures

    import grpc

    service, method = GRPC_METHOD.strip("/").split("/")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        service, {method: grpc.unary_unary_rpc_method_handler(lambda request, context: ANSWER)}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    serve_grpc(int(sys.argv[1]))
