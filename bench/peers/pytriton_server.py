"""Triton through PyTriton: the bundled tritonserver in front, the model's session in this
Python process behind its dynamic batcher (max batch 16), KServe v2 over HTTP.

Run: PEER_PORT=... MODEL_PATH=... python bench/peers/pytriton_server.py
The Python backend stub links libpython3.11.so: the launcher puts the interpreter's library
directory on LD_LIBRARY_PATH.
"""

from __future__ import annotations

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from bench.peers.common import INPUTS, MODEL_NAME, OUTPUT, port, session

model = session()


@batch
def infer(input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
    (embedding,) = model.run([OUTPUT], {"input_ids": input_ids, "attention_mask": attention_mask})
    return {OUTPUT: embedding}


def main() -> None:
    http = port()
    config = TritonConfig(http_port=http, grpc_port=http + 1, metrics_port=http + 2, log_verbose=0)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=MODEL_NAME, infer_func=infer,
            inputs=[Tensor(name=n, dtype=np.int64, shape=(-1,)) for n in INPUTS],
            outputs=[Tensor(name=OUTPUT, dtype=np.float32, shape=(-1,))],
            config=ModelConfig(max_batch_size=16, batcher=DynamicBatcher()),
            strict=False,
        )
        triton.serve()


if __name__ == "__main__":
    main()
