"""KServe's ModelServer: one worker, v2 REST, the run handed to a thread so the event loop keeps
taking requests while ONNX Runtime (which releases the GIL) computes.

Run: PEER_PORT=... MODEL_PATH=... python bench/peers/kserve_server.py
"""

from __future__ import annotations

import asyncio

from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer

from bench.peers.common import MODEL_NAME, OUTPUT, port, session


class MiniLM(Model):
    def __init__(self) -> None:
        super().__init__(MODEL_NAME)
        self.session = None
        self.load()

    def load(self) -> bool:
        self.session = session()
        self.ready = True
        return self.ready

    async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feed = {i.name: i.as_numpy() for i in payload.inputs}
        (embedding,) = await asyncio.to_thread(self.session.run, [OUTPUT], feed)
        output = InferOutput(name=OUTPUT, shape=list(embedding.shape), datatype="FP32", data=embedding)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[output])


if __name__ == "__main__":
    ModelServer(http_port=port(), grpc_port=port() + 1, workers=1, enable_grpc=False,
                enable_latency_logging=False).start([MiniLM()])
