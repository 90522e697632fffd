"""Causal language models uploaded through the vendor API and taken through every stage by a real
Celery worker: built with ONNX Runtime GenAI, held to token-exact greedy parity, offered in int4,
timed, and stored the way the serving side loads them."""

import zipfile
from pathlib import Path

import pytest

from marketplace.artifacts import artifact_export_to
from marketplace.models import ModelVersion
from tests.e2e.test_conversion_pipeline import create_listing, upload, wait_for
from tests.llm_models import build_causal_lm, cached_causal_lm_zip
from tests.runtime.test_formats import malicious_pickle

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAMILIES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "phi3": "Phi3ForCausalLM",
            "mistral": "MistralForCausalLM"}  # fmt: skip
SERVED_FILES = {"genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json", "tokenizer_config.json",
                "chat_template.jinja", "generation_config.json"}  # fmt: skip


def _stored_variant(version: ModelVersion, field: str, tmp_path: Path) -> Path:
    """Decrypt a variant's artifact and unzip it, as the inference worker will."""
    bundle, folder = tmp_path / f"{field}.zip", tmp_path / field
    artifact_export_to(organization=version.model.organization, name=getattr(version, field), path=bundle)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    return folder


def _og_greedy(folder: Path, prompt: list[int], new_tokens: int) -> list[int]:
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=len(prompt) + new_tokens,
                              min_length=len(prompt) + new_tokens)  # fmt: skip
    generator = og.Generator(model, params)
    generator.append_tokens(prompt)
    out = []
    while not generator.is_done():
        generator.generate_next_token()
        out.append(int(generator.get_next_tokens()[0]))
    return out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_causal_lm_reaches_ready_with_exact_parity_an_int4_option_and_its_card(
    family, vendor, start_worker, client, tmp_path
):
    worker = start_worker(queues="convert,default", name=f"convert-{family}", concurrency=1)
    create_listing(vendor, family)
    created = upload(vendor, family, cached_causal_lm_zip(family))
    assert created["source_format"] == "hf_zip"
    body = wait_for(vendor, family, created["version"], timeout=300)
    assert body["status"] == "ready", (body["failure"], worker.output()[-3000:])
    assert [s["state"] for s in body["stages"]] == ["done"] * 5
    version = ModelVersion.objects.get(model__slug=family)
    assert version.kind == "llm" and body["kind"] == "llm"
    assert body["int4"]["sha256"] == version.int4_sha256 and body["int4"]["agreement"] == body["parity"]["int4"]

    signature = body["signature"]
    assert signature["kind"] == "llm" and signature["architecture"] == FAMILIES[family]
    assert signature["family"] == family and signature["context_length"] == 512 and signature["vocab_size"] == 512
    assert signature["eos_token_ids"] == [1] and signature["has_chat_template"] is True
    assert 100_000 < signature["parameters"] < 300_000  # 2 layers, hidden 64, vocab 512

    parity = body["parity"]
    assert parity["kind"] == "generation" and parity["passed"] is True
    assert (parity["prompts"], parity["new_tokens"]) == (8, 32)
    assert parity["fp32"]["exact"] is True and parity["fp32"]["first_divergence"] is None
    int4 = parity["int4"]
    assert 0.0 <= int4["token_agreement"] <= 1.0 and int4["positions"] == 8 * 32
    assert int4["mean_abs_logit_diff"] > 0.0 and "teacher-forced" in int4["method"]

    figures = body["benchmark"]
    assert figures["kind"] == "generation" and figures["prompt_tokens"] == 128
    for precision in ("fp32", "int4"):
        variant = figures["variants"][precision]
        assert variant["precision"] == precision and variant["size_bytes"] > 0
        assert variant["ttft_ms"] > 0 and variant["decode_tokens_per_s"] > 0
    assert figures["variants"]["int4"]["size_bytes"] < figures["variants"]["fp32"]["size_bytes"]

    # Storage contract: two encrypted zips, each a folder og.Model opens as is.
    assert body["optimization"]["serving_layout"] == "genai_zip"
    assert version.onnx_artifact != version.int4_artifact and version.int4_sha256 and version.int4_size > 0
    assert version.tokenizer_artifact
    fp32 = _stored_variant(version, "onnx_artifact", tmp_path)
    assert {p.name for p in fp32.iterdir()} == SERVED_FILES
    reference = version.pipeline_state["llm_reference"]
    start = reference["prompt_lengths"][0]
    assert _og_greedy(fp32, reference["sequences"][0][:start], 32) == reference["sequences"][0][start:]
    int4_folder = _stored_variant(version, "int4_artifact", tmp_path)
    assert len(_og_greedy(int4_folder, reference["sequences"][0][:start], 8)) == 8

    client.force_login(vendor.user)
    html = client.get(f"/vendor/models/{family}/versions/{body['version']}/").content.decode()
    assert 'data-testid="llm-card"' in html and "8 prompts × 32 new tokens" in html
    assert f"{int4['token_agreement']:.4f}" in html


def test_a_sharded_safetensors_upload_reaches_ready(vendor, start_worker):
    worker = start_worker(queues="convert,default", name="convert-sharded", concurrency=1)
    create_listing(vendor, "sharded")
    created = upload(vendor, "sharded", cached_causal_lm_zip("llama", sharded=True))
    body = wait_for(vendor, "sharded", created["version"], timeout=300)
    assert body["status"] == "ready", (body["failure"], worker.output()[-3000:])
    assert body["stages"][0]["detail"]["shards"] > 1
    assert body["parity"]["fp32"]["exact"] is True and body["signature"]["architecture"] == "LlamaForCausalLM"


def test_unsupported_architectures_and_pickled_weights_are_refused(vendor, start_worker, tmp_path):
    start_worker(queues="convert,default", name="convert-refusals", concurrency=1)
    create_listing(vendor, "refused")
    created = upload(vendor, "refused", cached_causal_lm_zip("gpt_neox"))
    body = wait_for(vendor, "refused", created["version"], timeout=120)
    assert body["status"] == "failed" and body["failure"]["stage"] == "scanning", body
    assert body["failure"]["code"] == "unsupported_architecture"
    assert "GPTNeoXForCausalLM" in body["failure"]["reason"]
    assert all(name in body["failure"]["reason"] for name in ("Llama", "Qwen2", "Phi-3", "Mistral"))
    assert "save_pretrained" in body["failure"]["hint"]

    folder = build_causal_lm("llama", tmp_path)
    marker = tmp_path / "pwned"
    pickled = tmp_path / "pickled.zip"
    with zipfile.ZipFile(pickled, "w") as zf:
        for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
            zf.write(folder / name, name)
        zf.write(malicious_pickle(tmp_path / "p", marker), "pytorch_model.bin")
    with open(pickled, "rb") as fh:
        response = vendor.client.post("/api/v1/vendor/models/refused/versions", {"file": fh}, format="multipart")
    assert response.status_code == 422, response.content
    assert "pytorch_model.bin holds pickled weights" in response.json()["error"]["message"]
    assert not marker.exists()
    assert ModelVersion.objects.filter(model__slug="refused").count() == 1  # nothing stored for it
