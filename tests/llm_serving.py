"""Helpers for the language-model serving tests: GenAI folders built here from tiny random-weight
Hugging Face models (tests/llm_models.py) with ONNX Runtime GenAI's own builder, ready LLM versions
stored the way the conversion pipeline stores them, and the real web server process.

Building a folder takes a few seconds, so each (family, precision) is built once per test process.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from tests.llm_models import build_causal_lm
from tests.workers import ROOT, worker_env

_SOURCES: dict[str, Path] = {}
_FOLDERS: dict[tuple[str, str], Path] = {}


def hf_folder(family: str = "llama") -> Path:
    """The Hugging Face folder (random weights, trained tokenizer) a family's builds come from.
    "slow-llama" is a deeper, wider Llama with a 2,048-token context whose generation takes long
    enough (a few ms a token) for a test to hang up or kill a worker in the middle of it."""
    if family not in _SOURCES or not _SOURCES[family].exists():
        root = Path(tempfile.mkdtemp(prefix=f"mb-hf-{family}-"))
        _SOURCES[family] = _slow_llama(root) if family == "slow-llama" else build_causal_lm(family, root)
    return _SOURCES[family]


def _slow_llama(root: Path) -> Path:
    import shutil

    import torch
    import transformers

    tiny = hf_folder("llama")
    folder = root / "slow-llama"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tiny / name, folder / name)
    vocab = json.loads((tiny / "config.json").read_text())["vocab_size"]
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=384, intermediate_size=1024, num_hidden_layers=8,
                                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=2048,
                                      bos_token_id=0, eos_token_id=1, pad_token_id=2, tie_word_embeddings=False)
    config.architectures = ["LlamaForCausalLM"]
    torch.manual_seed(11)
    transformers.LlamaForCausalLM(config).eval().save_pretrained(folder)
    return folder


def genai_folder(family: str = "llama", precision: str = "fp32") -> Path:
    """A folder og.Model and our engine open: genai_config.json, model.onnx(.data), tokenizer."""
    key = (family, precision)
    if key not in _FOLDERS or not _FOLDERS[key].exists():
        from inference.conversion.steps.llm_build import build

        out = Path(tempfile.mkdtemp(prefix=f"mb-genai-{family}-{precision}-"))
        build(str(hf_folder(family)), str(out), precision)
        _FOLDERS[key] = out
    return _FOLDERS[key]


def _bundle(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                zf.write(path, path.name)
    return buffer.getvalue()


def llm_version(model, version: str = "1.0.0", *, family: str = "llama", with_int4: bool = False):
    """A ready language-model version stored as the pipeline stores one (one encrypted zip per
    variant, the tokenizer.json apart, the chat template in the signature)."""
    from django.utils import timezone

    from inference.runtime.chat import chat_info
    from marketplace.artifacts import artifact_save
    from marketplace.models import ModelVersion

    folder = genai_folder(family)
    org = model.organization
    fp32 = artifact_save(organization=org, source=io.BytesIO(_bundle(folder)), kind="onnx")
    tokenizer = artifact_save(organization=org, source=io.BytesIO((folder / "tokenizer.json").read_bytes()),
                              kind="tokenizer")
    config = json.loads((folder / "genai_config.json").read_text())["model"]
    template_file = folder / "chat_template.jinja"
    chat = chat_info(json.loads((folder / "tokenizer_config.json").read_text()),
                     template_file=template_file.read_text() if template_file.exists() else None)
    fields = {}
    if with_int4:
        int4 = artifact_save(organization=org, source=io.BytesIO(_bundle(genai_folder(family, "int4"))), kind="onnx")
        fields = {"int4_artifact": int4.name, "int4_sha256": int4.sha256, "int4_size": int4.size}
    return ModelVersion.objects.create(
        model=model, version=version, status=ModelVersion.Status.READY, source_format="hf_zip", kind="llm",
        onnx_artifact=fp32.name, onnx_sha256=fp32.sha256, onnx_size=fp32.size, tokenizer_artifact=tokenizer.name,
        signature={"kind": "llm", "architecture": "LlamaForCausalLM", "family": family,
                   "context_length": int(config["context_length"]), "vocab_size": int(config["vocab_size"]),
                   "eos_token_ids": config["eos_token_id"] if isinstance(config["eos_token_id"], list)
                   else [config["eos_token_id"]], "has_chat_template": bool(chat["template"]), "chat": chat},
        optimization={"serving_layout": "genai_zip"}, ready_at=timezone.now(), **fields,
    )


def published_llm(organization, slug: str = "chat", *, input_price: str = "50", output_price: str = "150",
                  with_int4: bool = False, family: str = "llama"):
    """A public, published language model with a token plan: prices are minor units per 1M tokens
    (50 = $0.50 per million input tokens)."""
    from marketplace.models import Model
    from marketplace.services.licensing import license_set
    from marketplace.services.plans import model_publish, plan_create

    model = Model.objects.create(organization=organization, slug=slug, name=slug.title(), task="text-generation",
                                 description="A tiny language model.", tags=["llm"])
    llm_version(model, family=family, with_int4=with_int4)
    license_set(model=model, actor=None, kind="custom", identifier="LM EULA", text="You may use it.",
                commercial_use=True)
    plan_create(model=model, actor=None, name="Tokens", kind="payg", unit="1m_tokens",
                input_price_per_million_minor=Decimal(input_price), output_price_per_million_minor=Decimal(output_price))
    return model_publish(model=model, actor=None)


class WebServer:
    """The web process as `make run` serves it (gunicorn, gthread), on a free loopback port, against
    the test database and Redis."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(settings.VAR_DIR) / f"web-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}", "--worker-class",
             "gthread", "--workers", "2", "--threads", "64", "--graceful-timeout", "5"],  # as runstack
            cwd=ROOT, env=env or worker_env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the web server exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the web server did not answer:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def greedy_tokens(ids: list[int], *, max_tokens: int, family: str = "llama", presence_penalty: float = 0.0,
                  frequency_penalty: float = 0.0) -> list[int]:
    """What ONNX Runtime GenAI generates greedily from `ids` on the family's built folder; with
    penalties, on its logits less OpenAI's penalties for the tokens generated so far (set_logits)."""
    import numpy as np
    import onnxruntime_genai as og

    model = og.Model(str(genai_folder(family)))
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=len(ids) + max_tokens)
    generator = og.Generator(model, params)
    generator.append_tokens(np.array([ids], dtype=np.int32))
    tokens: list[int] = []
    while not generator.is_done():
        if tokens and (presence_penalty or frequency_penalty):
            logits = generator.get_logits().astype(np.float32)
            seen, counts = np.unique(tokens, return_counts=True)
            logits[..., seen] -= counts * frequency_penalty + presence_penalty
            generator.set_logits(logits)
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    return tokens


def chat_ids(messages: list[dict], family: str = "llama") -> list[int]:
    """The prompt ids transformers' apply_chat_template gives for `messages`."""
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(genai_folder(family)).apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
