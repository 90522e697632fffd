"""The Open Inference Protocol (KServe v2) routes of inference/serving/v2/oip.py, as OpenAPI path items."""

from __future__ import annotations

from typing import Any

from inference.openapi.common import KEY, RECEIPT, error_responses, headers

TAG = "Inference (v2)"
MODEL = "acme-ai.tiny-mlp"

# The example a first call can send unchanged to a model taking one FP32 [-1, 4] input named x.
INFER_REQUEST = {"id": "my-call-1", "inputs": [
    {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}]}
INFER_RESPONSE = {"model_name": MODEL, "model_version": "1.0.0", "id": "my-call-1", "outputs": [
    {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [0.4172, -0.0815]}]}

DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
             "FP64", "BYTES"]
_BINARY = {"binary_data_size": {"type": "integer", "description": "Triton binary extension: the tensor's bytes "
                                "follow the JSON header instead of `data`."}}
SCHEMAS: dict[str, Any] = {
    "InferInputTensor": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string", "example": "x"},
        "datatype": {"type": "string", "enum": DATATYPES},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "example": [1, 4]},
        "data": {"type": "array", "items": {}, "description": "Row-major values, flat or nested; strings for BYTES."},
        "parameters": {"type": "object", "properties": _BINARY},
    }},
    "InferRequestedOutput": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "example": "y"},
        "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
    }},
    "InferRequest": {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string", "description": "Echoed in the answer."},
        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/InferInputTensor"}},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/InferRequestedOutput"},
                    "description": "Which outputs to return, and whether as binary data; all by default."},
        "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
    }},
    "InferOutputTensor": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string", "enum": DATATYPES},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "data": {"type": "array", "items": {}}, "parameters": {"type": "object", "properties": _BINARY},
    }},
    "InferResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/InferOutputTensor"}},
    }},
    "TensorMetadata": {"type": "object", "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string", "enum": DATATYPES},
        "shape": {"type": "array", "items": {"type": "integer"}, "description": "-1 for a dynamic axis."},
    }},
    "ModelMetadata": {"type": "object", "properties": {
        "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
    }},
    "OipError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
}

NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "example": MODEL,
        "description": "vendor-slug.model-slug"}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}, "example": "1.0.0"}
HEADER_LENGTH = {
    "name": "Inference-Header-Content-Length", "in": "header", "required": False, "schema": {"type": "integer"},
    "description": "Triton binary tensor extension: the length of the JSON header; raw tensor bytes follow it "
                   "(body as application/octet-stream). tritonclient.http sets it.",
}


def _oip_error(status: int, message: str, code: str | None) -> dict[str, str]:
    return {"error": message}


def _errors(*statuses: int) -> dict[str, Any]:
    return error_responses(list(statuses), _oip_error, "OipError")


def _json(schema: str, example: Any, description: str = "OK", with_headers: list[str] | None = None) -> dict:
    return {"description": description, "headers": headers(*(with_headers or [])),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"},
                                             "example": example}}}


def _ready(kind: str) -> dict[str, Any]:
    body = {"type": "object", "properties": {"ready": {"type": "boolean"}}}
    return {"description": kind, "content": {"application/json": {"schema": body}}}


INFER = {
    "operationId": "v2_infer", "tags": [TAG], "security": KEY,
    "summary": "Run the model",
    "description": "One metered call: the inputs are checked against the model's signature, run on the "
                   "vendor's hardware class and billed by the tensor elements sent. The usage receipt is in the "
                   "response headers; refused calls are not billed. `tritonclient.http` works unchanged, binary "
                   "tensors included.",
    "parameters": [HEADER_LENGTH],
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}, "examples": {
            "tiny-mlp": {"summary": "One row of four FP32 values", "value": INFER_REQUEST},
            "batch": {"summary": "A batch of two rows, y returned as binary data", "value": {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4],
                            "data": [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]}],
                "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}},
        }},
        "application/octet-stream": {"schema": {
            "type": "string", "format": "binary", "description": "A JSON header of Inference-Header-Content-Length "
                                                                 "bytes, then the tensors' raw bytes in input order."}},
    }},
    "responses": {
        "200": {"description": "The outputs, and the usage receipt in the headers.",
                "headers": headers(*RECEIPT, "Inference-Header-Content-Length"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferResponse"},
                                                 "example": INFER_RESPONSE},
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        **_errors(400, 401, 402, 403, 404, 409, 413, 429, 503, 504),
    },
}


def _model_get(operation_id: str, summary: str, response: dict, *statuses: int) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "tags": [TAG], "security": KEY, "summary": summary,
                    "responses": {"200": response, **_errors(*statuses)}}}


METADATA = _json("ModelMetadata", {"name": MODEL, "versions": ["1.0.0"], "platform": "onnxruntime_onnx",
                                   "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
                                   "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]})
CONFIG = {"description": "Triton's model configuration, as tritonclient's get_model_config reads it.",
          "content": {"application/json": {"schema": {"type": "object"}, "example": {
              "name": MODEL, "platform": "onnxruntime_onnx", "backend": "onnxruntime", "max_batch_size": 32,
              "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
              "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [2]}],
              "dynamic_batching": {"max_queue_delay_microseconds": 2000}}}}}


def _both(path: str, item: dict[str, Any]) -> dict[str, Any]:
    """The route for the model's latest ready version and the one pinned to a version."""
    def with_params(params: list[dict]) -> dict[str, Any]:
        return {method: {**op, "operationId": op["operationId"] + ("_version" if len(params) > 1 else ""),
                         "parameters": params + op.get("parameters", [])} for method, op in item.items()}
    return {f"/v2/models/{{name}}{path}": with_params([NAME]),
            f"/v2/models/{{name}}/versions/{{version}}{path}": with_params([NAME, VERSION])}


PATHS: dict[str, Any] = {
    **_both("/infer", {"post": INFER}),
    "/v2": {"get": {"operationId": "v2_server_metadata", "tags": [TAG], "security": [],
                    "summary": "Server metadata and the protocol extensions it speaks",
                    "responses": {"200": {"description": "OK", "content": {"application/json": {
                        "schema": {"type": "object"}, "example": {
                            "name": "modelbay", "version": "1.0.0",
                            "extensions": ["binary_tensor_data", "model_configuration"]}}}}}}},
    "/v2/health/live": {"get": {"operationId": "v2_health_live", "tags": [TAG], "security": [],
                                "summary": "The server is up", "responses": {"200": _ready("Live.")}}},
    "/v2/health/ready": {"get": {"operationId": "v2_health_ready", "tags": [TAG], "security": [],
                                 "summary": "The server can take calls",
                                 "responses": {"200": _ready("Ready."), "503": _ready("Not ready.")}}},
    **_both("", _model_get("v2_model_metadata", "The model's inputs, outputs and ready versions",
                           METADATA, 401, 403, 404, 409)),
    **_both("/config", _model_get("v2_model_config", "Triton model configuration", CONFIG, 400, 401, 403, 404,
                                  409)),
    **_both("/ready", {"get": {"operationId": "v2_model_ready", "tags": [TAG], "security": KEY,
                               "summary": "The model (version) can be called",
                               "responses": {"200": _ready("Ready."), "503": _ready("Not ready yet."),
                                             **_errors(401, 403, 404)}}}),
}
