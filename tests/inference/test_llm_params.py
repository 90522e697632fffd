"""OpenAI request bodies are checked field by field, and prompts render as transformers renders them."""

from __future__ import annotations

import pytest

from inference.runtime.chat import TemplateError, chat_info, render
from inference.serving.v1.errors import OpenAIError
from inference.serving.v1.params import parse

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]


def test_a_chat_body_becomes_generation_parameters():
    params = parse({"model": "acme.llama@1.0.0:int4", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "you"}]}],
        "max_completion_tokens": 12, "temperature": 0, "top_p": 0.9, "top_k": 5, "seed": 7, "stop": "###",
        "stream": True, "stream_options": {"include_usage": True}, "user": "end-user-1"}, kind="chat")
    assert params.messages == [{"role": "user", "content": "Hi you"}]
    assert (params.max_tokens, params.temperature, params.top_p, params.top_k, params.seed) == (12, 0.0, 0.9, 5, 7)
    assert params.stop == ["###"] and params.stream and params.include_usage


def test_presence_and_frequency_penalties_reach_the_sampler_and_are_bounded_as_openai_bounds_them():
    params = parse({"model": "m", "messages": MESSAGES, "presence_penalty": 0.5, "frequency_penalty": -1},
                   kind="chat")  # fmt: skip
    assert params.sampling()["presence_penalty"] == 0.5 and params.sampling()["frequency_penalty"] == -1.0
    with pytest.raises(OpenAIError) as refused:
        parse({"model": "m", "prompt": "Once", "frequency_penalty": 2.5}, kind="completion")
    assert refused.value.param == "frequency_penalty" and "from -2 to 2" in refused.value.message


@pytest.mark.parametrize("seed", [-1, -(2**63), 0, 2**63 - 1])
def test_any_64_bit_seed_openai_takes_is_one_the_sampler_takes(seed):
    from inference.runtime.generation.sampling import SamplingParams

    sampling = parse({"model": "m", "prompt": "Once", "seed": seed}, kind="completion").sampling()
    assert SamplingParams(**sampling).seed == seed % 2**64  # before: a negative seed was refused by the worker


def test_logit_bias_is_openais_map_of_token_ids_to_a_bias_from_minus_to_plus_100():
    params = parse({"model": "m", "prompt": "Once", "logit_bias": {"7": 100, "42": -100.0}}, kind="completion")
    assert params.sampling()["logit_bias"] == [(7, 100.0), (42, -100.0)]
    for bad in ({"seven": 1}, {"-1": 1}, {"7": 101}, {"7": True}, ["7"], {str(i): 1 for i in range(301)}):
        with pytest.raises(OpenAIError) as refused:
            parse({"model": "m", "prompt": "Once", "logit_bias": bad}, kind="completion")
        assert refused.value.param == "logit_bias" and "logit_bias" in refused.value.message


def test_completions_default_to_sixteen_tokens_as_openai_does():
    assert parse({"model": "acme.llama", "prompt": "Once"}, kind="completion").max_tokens == 16


@pytest.mark.parametrize("body, param, fragment", [
    ({"model": "m", "messages": MESSAGES, "n": 2}, "n", "Only n=1"),
    ({"model": "m", "messages": MESSAGES, "logprobs": True}, "logprobs", "not supported"),
    ({"model": "m", "messages": MESSAGES, "best_friend": 1}, "best_friend", "Unknown parameter 'best_friend'"),
    ({"model": "m", "messages": "hello"}, "messages", "non-empty list"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "must be one of"),
    ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content", "string or a list"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content",
     "only text parts"),
    ({"model": "m", "messages": MESSAGES, "temperature": 3}, "temperature", "from 0 to 2"),
    ({"model": "m", "messages": MESSAGES, "max_tokens": 0}, "max_tokens", "at least 1"),
    ({"model": "m", "messages": MESSAGES, "stop": ["a", "b", "c", "d", "e"]}, "stop", "up to 4"),
    ({"model": "m", "messages": MESSAGES, "stream_options": {"include_usage": True}}, "stream_options",
     "only allowed with stream"),
    ({"messages": MESSAGES}, "model", "'model' is required"),
])
def test_bad_bodies_are_400_naming_the_parameter(body, param, fragment):
    with pytest.raises(OpenAIError) as refused:
        parse(body, kind="chat")
    assert refused.value.status == 400 and refused.value.param == param
    assert fragment in refused.value.message
    assert refused.value.body()["error"]["type"] == "invalid_request_error"


def test_unsupported_parameters_at_values_that_ask_for_nothing_are_accepted_as_clients_send_them():
    neutral = {"presence_penalty": 0, "frequency_penalty": 0.0, "logprobs": False, "top_logprobs": 0,
               "logit_bias": {}, "response_format": {"type": "text"}, "tool_choice": "none", "tools": None,
               "parallel_tool_calls": None, "store": False, "service_tier": "auto", "modalities": ["text"]}
    params = parse({"model": "m", "messages": MESSAGES, "temperature": 0, **neutral}, kind="chat")
    assert params.temperature == 0 and params.messages == MESSAGES
    assert parse({"model": "m", "prompt": "Once", "echo": False, "best_of": 1, "suffix": "", "logprobs": None},
                 kind="completion").prompt == "Once"


@pytest.mark.parametrize("kind, name, value", [
    ("chat", "top_logprobs", 2), ("chat", "logprobs", True), ("chat", "response_format", {"type": "json_object"}),
    ("chat", "tools", []), ("completion", "suffix", " The end."), ("completion", "logprobs", 0),
    ("completion", "best_of", 2), ("completion", "echo", 1),
])
def test_an_unsupported_parameter_that_asks_for_something_is_still_refused(kind, name, value):
    body = {"model": "m", name: value, **({"messages": MESSAGES} if kind == "chat" else {"prompt": "Once"})}
    with pytest.raises(OpenAIError) as refused:
        parse(body, kind=kind)
    assert refused.value.param == name and refused.value.body()["error"]["code"] == "unsupported_parameter"


LLAMA3_STYLE = (
    "{{ bos_token }}{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ raise_exception('the first message must be the system prompt') }}{% endif %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


@pytest.mark.parametrize("template", [LLAMA3_STYLE, "{% for m in messages %}{{ m | tojson }}\n{% endfor %}"])
def test_chat_templates_render_exactly_as_transformers_renders_them(tmp_path, template):
    import json

    from transformers import AutoTokenizer

    from tests.llm_serving import hf_folder

    folder = hf_folder("llama")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    expected = tokenizer.apply_chat_template(MESSAGES, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)
    info = chat_info({**config, "chat_template": template})
    assert render(template=info["template"], messages=MESSAGES, special_tokens=info["special_tokens"]) == expected


def test_a_template_that_refuses_a_conversation_says_why():
    with pytest.raises(TemplateError, match="first message must be the system prompt"):
        render(template=LLAMA3_STYLE, messages=MESSAGES[1:], special_tokens={"bos_token": "<s>"})


def test_templates_cannot_reach_python_internals():
    with pytest.raises(TemplateError):
        render(template="{{ messages.__class__.__mro__[1].__subclasses__() }}", messages=MESSAGES,
               special_tokens={})
