"""The OpenAI-compatible routes of inference/serving/v1/views.py, as OpenAPI path items. The request
properties are the parameters inference/serving/v1/params.py accepts (a test keeps the two equal)."""

from __future__ import annotations

from typing import Any

from inference.openapi.common import KEY, RECEIPT, error_responses, headers
from inference.runtime.chat import ROLES
from inference.serving.v1.errors import TYPES

TAG = "Language models (v1)"
MODEL = "acme-ai.tiny-llama"
CREATED = 1764930000

CHAT_REQUEST = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello in one word."}],
                "max_tokens": 8, "temperature": 0}
CHAT_RESPONSE = {
    "id": "01JF7Q8M2W6ZB7K3V4N5P6R8ST", "object": "chat.completion", "created": CREATED, "model": MODEL,
    "system_fingerprint": "1.0.0:int4",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 3, "total_tokens": 17},
}
COMPLETION_REQUEST = {"model": MODEL, "prompt": "The capital of France is", "max_tokens": 4, "temperature": 0}
COMPLETION_RESPONSE = {
    **CHAT_RESPONSE, "object": "text_completion",
    "choices": [{"index": 0, "text": " Paris.", "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9},
}
STREAM = ('data: {"id":"01JF7Q8M2W6ZB7K3V4N5P6R8ST","object":"chat.completion.chunk","created":1764930000,'
          '"model":"acme-ai.tiny-llama","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}'
          '\n\n...\n\ndata: [DONE]\n\n')

_NUMBER = {"type": "number"}
COMMON_PROPERTIES: dict[str, Any] = {
    "model": {"type": "string", "example": MODEL,
              "description": "vendor-slug.model-slug, optionally @version and :variant (`acme-ai.llama@1.2.0:int4`); "
                             "GET /v1/models lists yours."},
    "max_tokens": {"type": "integer", "minimum": 1, "description": "Tokens to generate at most."},
    "temperature": {**_NUMBER, "minimum": 0, "maximum": 2, "default": 1, "description": "0 decodes greedily."},
    "top_p": {**_NUMBER, "exclusiveMinimum": True, "minimum": 0, "maximum": 1, "default": 1},
    "top_k": {"type": "integer", "minimum": 0, "default": 0, "description": "0: no top-k filter."},
    "seed": {"type": "integer", "description": "The same seed and parameters give the same answer."},
    "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}]},
    "stream": {"type": "boolean", "default": False,
               "description": "Answer as server-sent events (text/event-stream), ending with `data: [DONE]`."},
    "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}},
                       "description": "With stream: a last chunk carrying `usage`."},
    "presence_penalty": {**_NUMBER, "minimum": -2, "maximum": 2, "default": 0,
                         "description": "Subtracted once from the logit of every token the completion holds already."},
    "frequency_penalty": {**_NUMBER, "minimum": -2, "maximum": 2, "default": 0,
                          "description": "Subtracted from a token's logit once for each time the completion holds it."},
    "logit_bias": {"type": "object", "maxProperties": 300,
                   "additionalProperties": {**_NUMBER, "minimum": -100, "maximum": 100},
                   "example": {"77": -100},
                   "description": "Token ids (as strings) to a number added to their logit: -100 forbids the token, "
                                  "100 forces it. An id outside the model's vocabulary is a 400."},
    "n": {"type": "integer", "enum": [1], "description": "Only 1: send n requests for n answers."},
    "user": {"type": "string", "description": "Accepted and ignored."},
}
SCHEMAS: dict[str, Any] = {
    "ChatCompletionRequest": {"type": "object", "required": ["model", "messages"], "properties": {
        **COMMON_PROPERTIES,
        "messages": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["role", "content"], "properties": {
                "role": {"type": "string", "enum": list(ROLES)},
                "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {
                    "type": "object", "properties": {"type": {"type": "string", "enum": ["text"]},
                                                     "text": {"type": "string"}}}}]},
                "name": {"type": "string"}}}},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "description": "The newer name of max_tokens."},
    }},
    "CompletionRequest": {"type": "object", "required": ["model", "prompt"], "properties": {
        **COMMON_PROPERTIES, "prompt": {"type": "string", "description": "One prompt per request."},
    }},
    "Usage": {"type": "object", "properties": {
        "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"}}},
    "ChatCompletion": {"type": "object", "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"}, "model": {"type": "string"}, "system_fingerprint": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "finish_reason": {"type": "string", "enum": ["stop", "length"]},
            "message": {"type": "object", "properties": {"role": {"type": "string"}, "content": {"type": "string"}}},
        }}},
        "usage": {"$ref": "#/components/schemas/Usage"}}},
    "TextCompletion": {"type": "object", "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["text_completion"]},
        "created": {"type": "integer"}, "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "text": {"type": "string"},
            "finish_reason": {"type": "string", "enum": ["stop", "length"]}}}},
        "usage": {"$ref": "#/components/schemas/Usage"}}},
    "LanguageModel": {"type": "object", "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["model"]}, "created": {"type": "integer"},
        "owned_by": {"type": "string"}, "version": {"type": "string"}, "context_length": {"type": "integer"}}},
    "OpenAIError": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": "string", "nullable": True}, "code": {"type": "string", "nullable": True}}}}},
}
def _openai_error(status: int, message: str, code: str | None) -> dict[str, Any]:
    param = None
    if status == 400:
        message, param, code = "'temperature' must be a number from 0 to 2.", "temperature", "invalid_value"
    if status == 404:
        message, param, code = (f"The model '{MODEL}' does not exist or you cannot call it; GET /v1/models lists "
                                "yours.", "model", "model_not_found")
    return {"error": {"message": message, "type": TYPES[status], "param": param, "code": code}}


ERRORS = error_responses([400, 401, 402, 403, 404, 409, 413, 429, 503, 504], _openai_error, "OpenAIError")
MODEL_OBJECT = {"id": MODEL, "object": "model", "created": CREATED, "owned_by": "acme-ai", "version": "1.0.0",
                "context_length": 2048}


def _generate(operation_id: str, summary: str, request: str, example: dict, response: str, answer: dict) -> dict:
    return {"post": {
        "operationId": operation_id, "tags": [TAG], "security": KEY, "summary": summary,
        "description": "The official `openai` SDK works with `base_url=\"<site>/v1\"` and a Modelbay key. Billed per "
                       "prompt and completion token; the receipt is in the headers (a streamed answer carries the "
                       "request id and rate limits only, as its cost is known at the end).",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{request}"},
            "examples": {"first-call": {"summary": "A short greedy answer", "value": example},
                         "stream": {"summary": "Streamed as server-sent events",
                                    "value": {**example, "stream": True}}}}}},
        "responses": {
            "200": {"description": "The answer, or with `stream: true` server-sent events.",
                    "headers": headers(*RECEIPT),
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{response}"},
                                                     "example": answer},
                                "text/event-stream": {"schema": {"type": "string"}, "example": STREAM}}},
            **ERRORS,
        },
    }}


PATHS: dict[str, Any] = {
    "/v1/chat/completions": _generate("v1_chat_completions", "Chat with a language model", "ChatCompletionRequest",
                                      CHAT_REQUEST, "ChatCompletion", CHAT_RESPONSE),
    "/v1/completions": _generate("v1_completions", "Complete a prompt", "CompletionRequest", COMPLETION_REQUEST,
                                 "TextCompletion", COMPLETION_RESPONSE),
    "/v1/models": {"get": {
        "operationId": "v1_models", "tags": [TAG], "security": KEY, "summary": "The language models you can call",
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"type": "object", "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/LanguageModel"}}}},
            "example": {"object": "list", "data": [MODEL_OBJECT]}}}},
            **{s: ERRORS[s] for s in ("401", "403", "429", "503")}}}},
    "/v1/models/{model_id}": {"get": {
        "operationId": "v1_model", "tags": [TAG], "security": KEY, "summary": "One language model",
        "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"},
                        "example": MODEL}],
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/LanguageModel"}, "example": MODEL_OBJECT}}},
            **{s: ERRORS[s] for s in ("401", "403", "404", "429", "503")}}}},
}
