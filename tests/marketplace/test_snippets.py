"""The code snippets a tensor model's page offers: shapes, keys and quoting, checked by parsing
and running what they say (the live calls are in tests/e2e/test_snippets_live.py)."""

import ast
import json
import shlex
import shutil
import subprocess

import pytest

from marketplace.snippets import (
    ENV_KEY,
    EXAMPLE_TEXT,
    curl_request,
    example_inputs,
    key_placeholder,
    tensor_snippets,
)

TINY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]}
TEXT = {"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [-1, -1]},
                   {"name": "attention_mask", "datatype": "INT64", "shape": [-1, -1]},
                   {"name": "lang", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 3]}]}
IMAGE = {"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 3, 32, 32]}],
         "outputs": [{"name": "probs", "datatype": "FP32", "shape": [1, 10]}]}


def snippets(signature, key="mb_live_abc123…", tokenizer=False, base_url="https://modelbay.example"):
    return {s.id: s.code for s in tensor_snippets(base_url=base_url, model_name="acme.net", signature=signature,
                                                  key=key, tokenizer=tokenizer)}


def curl_body(command: str) -> dict:
    words = shlex.split(command)
    return json.loads(words[words.index("-d") + 1])


def test_examples_fill_the_declared_shape_with_any_size_dimensions_as_one():
    [x] = example_inputs(TINY)
    assert x.tensor() == {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0.5] * 4}
    ids, mask, lang = example_inputs(TEXT)
    assert ids.shape == [1, 1] and ids.fill == 0 and lang.tensor()["data"] == [EXAMPLE_TEXT]


def test_a_tokenizer_makes_the_token_inputs_so_examples_leave_them_out():
    assert [e.name for e in example_inputs(TEXT, tokenized=True)] == ["lang"]


def test_signed_in_buyers_see_their_key_prefix_and_others_an_environment_variable():
    assert key_placeholder("mb_live_abc123") == "mb_live_abc123…"
    assert key_placeholder(None) == ENV_KEY == "$MODELBAY_API_KEY"
    code = snippets(TINY, key=ENV_KEY)
    assert 'Bearer $MODELBAY_API_KEY"' in code["curl"]
    assert 'os.environ["MODELBAY_API_KEY"]' in code["python"]
    assert "process.env.MODELBAY_API_KEY" in code["javascript"]
    code = snippets(TINY)
    assert "Bearer mb_live_abc123…" in code["curl"] and 'API_KEY = "mb_live_abc123…"' in code["python"]


def test_curl_posts_the_example_to_the_models_infer_url():
    command = snippets(TINY)["curl"]
    words = shlex.split(command)
    assert words[:2] == ["curl", "https://modelbay.example/v2/models/acme.net/infer"]
    assert "Authorization: Bearer mb_live_abc123…" in words
    assert curl_body(command) == {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0.5] * 4}]}


def test_curl_quotes_a_body_with_apostrophes_for_the_shell():
    body = json.dumps({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "data": ["it's"]}]})
    assert curl_body(curl_request(url="http://h/v2/models/a.b/infer", key=ENV_KEY, body=body)) == json.loads(body)


def test_big_tensors_are_generated_by_python_instead_of_written_out():
    command = snippets(IMAGE)["curl"]
    assert len(command) < 1000
    program_part, curl_part = command.split(" |\n")
    written = subprocess.run(shlex.split(program_part), capture_output=True, text=True, check=True).stdout
    tensor = json.loads(written)["inputs"][0]
    assert tensor["shape"] == [1, 3, 32, 32] and len(tensor["data"]) == 3 * 32 * 32
    assert shlex.split(curl_part)[-2:] == ["-d", "@-"]
    assert "np.full([1, 3, 32, 32], 0.5, dtype=np.float32)" in snippets(IMAGE)["python"]
    assert "Array(3072).fill(0.5)" in snippets(IMAGE)["javascript"]


def test_with_a_tokenizer_curl_tokenizes_then_sends_the_token_tensors_with_the_other_inputs():
    comment, pipeline = snippets(TEXT, tokenizer=True)["curl"].split("\n", 1)
    assert comment.startswith("# ")
    tokenize, merge, infer = pipeline.split(" |\n")
    assert "https://modelbay.example/api/v1/tokenize" in tokenize
    assert curl_body(tokenize) == {"model": "acme.net", "text": EXAMPLE_TEXT}
    answer = {"model": "acme.net", "model_version": "1.0.0", "inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}]}
    merged = subprocess.run(shlex.split(merge), input=json.dumps(answer),
                            capture_output=True, text=True, check=True).stdout
    assert [t["name"] for t in json.loads(merged)["inputs"]] == ["input_ids", "lang"]
    assert "https://modelbay.example/v2/models/acme.net/infer" in infer


def test_python_is_valid_and_uses_tritonclient_with_tls_for_https():
    code = snippets(TINY)["python"]
    ast.parse(code)
    assert 'InferenceServerClient(url="modelbay.example", ssl=True)' in code
    assert 'httpclient.InferInput("x", [1, 4], "FP32")' in code
    assert 'result = client.infer("acme.net", inputs, headers=headers)' in code
    assert 'result.as_numpy("y")' in code
    plain = snippets(TINY, base_url="http://localhost:8000")["python"]
    assert 'url="localhost:8000")' in plain
    tokenized = snippets(TEXT, tokenizer=True)["python"]
    ast.parse(tokenized)
    assert '"https://modelbay.example/api/v1/tokenize"' in tokenized
    assert 'np.full([1], "Modelbay serves this model.", dtype=object)' in tokenized


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("signature", [TINY, TEXT, IMAGE])
def test_javascript_is_a_valid_module(tmp_path, signature):
    script = tmp_path / "call.mjs"
    script.write_text(snippets(signature, tokenizer=signature is TEXT)["javascript"])
    subprocess.run(["node", "--check", str(script)], check=True, capture_output=True)


def test_python_snippets_compile_for_every_datatype():
    datatypes = ["BOOL", "FP16", "FP32", "FP64", "INT8", "INT32", "INT64", "UINT8", "BYTES"]
    signature = {"inputs": [{"name": f"t{i}", "datatype": d, "shape": [-1, 2]} for i, d in enumerate(datatypes)]}
    code = snippets(signature)["python"]
    compile(code, "snippet.py", "exec")
    assert "np.full([1, 2], False, dtype=np.bool_)" in code and "dtype=np.float16" in code
