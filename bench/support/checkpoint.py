"""A synthetic sharded safetensors checkpoint, as save_pretrained lays one out: a real Llama config
scaled to a target size (fp16, random weights), so the pipeline's `complete` accepts it as a Hugging
Face folder. bench/large_upload.py pushes one."""

from __future__ import annotations

import json
from pathlib import Path

GiB, MiB = 2**30, 2**20


def llama_config(target_bytes: int) -> dict:
    """A Llama-architecture config (the shape of a ~3B model) with as many layers as fill the target."""
    hidden, inter, vocab = 2560, 6912, 32000
    per_layer = 4 * hidden * hidden + 3 * hidden * inter + 2 * hidden
    layers = max(1, round((target_bytes / 2 - 2 * vocab * hidden - hidden) / per_layer))
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
            "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": 20,
            "num_key_value_heads": 20, "vocab_size": vocab, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "float16",
            "bos_token_id": 1, "eos_token_id": 2}


def tensors(config: dict) -> list[tuple[str, list[int]]]:
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    out = [("model.embed_tokens.weight", [v, h])]
    for n in range(config["num_hidden_layers"]):
        p = f"model.layers.{n}."
        out += [(p + f"self_attn.{x}_proj.weight", [h, h]) for x in "qkvo"]
        out += [(p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
                (p + "mlp.down_proj.weight", [h, i]), (p + "input_layernorm.weight", [h]),
                (p + "post_attention_layernorm.weight", [h])]
    return out + [("model.norm.weight", [h]), ("lm_head.weight", [v, h])]


def write_checkpoint(folder: Path, target_bytes: int, shard_bytes: int = GiB) -> int:
    """save_pretrained's layout: model-0000k-of-0000n.safetensors + the index, written streaming."""
    import numpy as np

    config = llama_config(target_bytes)
    shards: list[list[tuple[str, list[int], int]]] = [[]]
    used = 0
    for name, shape in tensors(config):
        size = 2 * int(np.prod(shape))
        if used and used + size > shard_bytes:
            shards.append([])
            used = 0
        shards[-1].append((name, shape, size))
        used += size
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    rng = np.random.default_rng(0)
    weight_map, total = {}, 0
    for k, shard in enumerate(shards, 1):
        filename = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape, size in shard:
            header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
            weight_map[name] = filename
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        with open(folder / filename, "wb") as out:
            out.write(len(raw).to_bytes(8, "little") + raw)
            for _name, _shape, size in shard:
                while size:
                    step = min(size, 64 * MiB)
                    out.write(rng.bytes(step))
                    size -= step
        total += offset
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    return sum(p.stat().st_size for p in folder.iterdir())
