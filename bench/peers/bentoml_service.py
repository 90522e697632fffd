"""BentoML peer: one worker process, the model's session in the service, numpy in and out.

Run: PEER_PORT=... MODEL_PATH=... bentoml serve bench.peers.bentoml_service:MiniLM --port $PEER_PORT
"""

from __future__ import annotations

import bentoml
import numpy as np

from bench.peers.common import OUTPUT, session


@bentoml.service(workers=1)
class MiniLM:
    def __init__(self) -> None:
        self.session = session()

    @bentoml.api
    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return self.session.run([OUTPUT], feed)[0]
