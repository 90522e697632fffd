"""Causal language models are recognised on upload and built with ONNX Runtime GenAI; what the
builder writes passes the same checks as any ONNX a buyer's request would reach."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import onnx
import pytest

from inference.conversion.steps import llm_build, llm_steps
from inference.conversion.steps.errors import (
    ConversionFailed,
    MalformedFile,
    OnnxUnsafe,
    UnsupportedArchitecture,
    UnsupportedFormat,
)
from inference.conversion.steps.formats import sniff
from inference.conversion.steps.llm_detect import SUPPORTED
from inference.conversion.steps.llm_parity import PROMPTS, generation_parity
from inference.conversion.steps.pipeline_steps import scan
from tests.llm_models import FAMILIES, build_causal_lm, cached_causal_lm_zip, zip_folder
from tests.runtime.test_formats import malicious_pickle


def test_a_causal_lm_zip_is_recognised_with_its_family_and_chat_template(tmp_path):
    scanned = scan(cached_causal_lm_zip("qwen2"), tmp_path / "work")
    assert scanned["format"] == "hf_zip" and scanned["kind"] == "llm"
    assert scanned["llm"]["architecture"] == "Qwen2ForCausalLM" and scanned["llm"]["family"] == "qwen2"
    assert scanned["llm"]["shards"] == ["model.safetensors"] and scanned["llm"]["has_chat_template"] is True


def test_sharded_weights_are_listed_and_each_shard_is_checked_as_safetensors(tmp_path):
    scanned = scan(cached_causal_lm_zip("llama", sharded=True), tmp_path / "work")
    assert len(scanned["llm"]["shards"]) > 1 and all(s.endswith(".safetensors") for s in scanned["llm"]["shards"])
    marker = tmp_path / "pwned"
    folder = build_causal_lm("llama", tmp_path / "evil", sharded=True)
    malicious_pickle(folder / scanned["llm"]["shards"][1], marker)  # a pickle renamed as a shard
    with pytest.raises(MalformedFile, match="is not a safetensors file"):
        scan(zip_folder(folder, tmp_path / "evil.zip"), tmp_path / "work2")
    assert not marker.exists()


def test_an_index_naming_a_file_outside_the_folder_is_refused(tmp_path):
    folder = build_causal_lm("llama", tmp_path, sharded=True)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "../../etc/passwd.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(MalformedFile, match="shards must be .safetensors files next to the index"):
        scan(zip_folder(folder, tmp_path / "m.zip"), tmp_path / "work")


def test_an_architecture_the_builder_cannot_build_is_refused_naming_the_supported_families(tmp_path):
    with pytest.raises(UnsupportedArchitecture) as caught:
        scan(cached_causal_lm_zip("gpt_neox"), tmp_path / "work")
    assert "GPTNeoXForCausalLM" in caught.value.message
    for name in ("Llama", "Qwen2", "Phi-3", "Mistral"):
        assert name in caught.value.message


def test_a_language_model_without_its_tokenizer_is_refused(tmp_path):
    folder = build_causal_lm("llama", tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(MalformedFile, match="tokenizer.json is missing"):
        scan(zip_folder(folder, tmp_path / "m.zip"), tmp_path / "work")


def test_an_already_quantized_checkpoint_is_refused(tmp_path):
    folder = build_causal_lm("llama", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedFormat, match="already quantized"):
        scan(zip_folder(folder, tmp_path / "m.zip"), tmp_path / "work")


def test_pickled_weights_without_safetensors_are_refused_by_the_sniffer(tmp_path):
    folder = build_causal_lm("llama", tmp_path)
    archive = tmp_path / "pickled.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            zf.write(folder / name, name)
        zf.write(malicious_pickle(tmp_path / "p", tmp_path / "pwned"), "pytorch_model.bin")
    with pytest.raises(UnsupportedFormat, match="pytorch_model.bin holds pickled weights"):
        sniff(archive)
    assert not (tmp_path / "pwned").exists()


@pytest.fixture(scope="module")
def built_llama(tmp_path_factory) -> Path:
    """An fp32 GenAI folder of the tiny Llama, built in this process (the pipeline uses a child)."""
    root = tmp_path_factory.mktemp("built")
    source = build_causal_lm("llama", root)
    llm_build.build(str(source), str(root / "fp32"), "fp32")
    return root / "fp32"


@pytest.mark.slow
def test_the_built_graph_passes_the_onnx_checks_and_uses_only_allowed_domains(built_llama):
    checked = llm_build.check_onnx_file(str(built_llama / "model.onnx"))
    assert checked["ops"]["com.microsoft::GroupQueryAttention"] == 2
    assert {op.split("::")[0] for op in checked["ops"]} <= {"ai.onnx", "com.microsoft"}
    facts = llm_build.verify_folder(built_llama, "fp32")
    assert facts["context_length"] == 512 and facts["vocab_size"] == 512 and facts["eos_token_ids"] == [1]
    assert {"genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json"} <= set(facts["files"])


@pytest.mark.slow
def test_external_data_pointing_outside_the_built_folder_is_refused(built_llama, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(built_llama, folder)
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    tensor = next(t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
    next(kv for kv in tensor.external_data if kv.key == "location").value = "../../etc/passwd"
    onnx.save(model, str(folder / "model.onnx"))
    with pytest.raises(OnnxUnsafe, match="external data"):
        llm_build.check_onnx_file(str(folder / "model.onnx"))


@pytest.mark.slow
def test_a_genai_config_asking_for_a_custom_op_library_is_refused(built_llama, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(built_llama, folder)
    config = json.loads((folder / "genai_config.json").read_text())
    config["model"]["decoder"]["session_options"]["custom_ops_library"] = "/tmp/evil.so"
    (folder / "genai_config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionFailed, match="custom-op library"):
        llm_build.verify_folder(folder, "fp32")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen3", "gemma", "granite", "smollm3"])
def test_the_other_supported_families_build_with_token_exact_parity(family, tmp_path):
    """Llama, Qwen2, Phi-3 and Mistral go through the whole pipeline in tests/e2e; the rest of
    SUPPORTED is held to the same parity here, in process, to keep CI short."""
    assert FAMILIES[family][1] in SUPPORTED
    source = build_causal_lm(family, tmp_path)
    llm_build.build(str(source), str(tmp_path / "fp32"), "fp32")
    result = generation_parity(str(source), str(tmp_path / "fp32"))
    assert result["exact"], result["first_divergence"]
    assert len(result["sequences"]) == len(PROMPTS)


def test_variant_folders_round_trip_through_their_zip(tmp_path):
    folder = tmp_path / "fp32"
    folder.mkdir()
    (folder / "genai_config.json").write_text("{}")
    (folder / "model.onnx").write_bytes(b"\x08\x07")
    llm_steps.unpack(llm_steps.pack(folder, tmp_path / "v.zip"), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["genai_config.json", "model.onnx"]
    with zipfile.ZipFile(tmp_path / "v.zip") as zf:
        assert all("/" not in n for n in zf.namelist())  # flat: og.Model opens the extracted folder
