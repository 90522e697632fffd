"""The v2 codec speaks exactly what tritonclient.http sends and parses, and refuses bad input."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import tritonclient.http as httpclient

from inference.runtime.signature import validate_against_signature
from inference.runtime.tensors import (
    PayloadTooLarge,
    TensorError,
    decode_request,
    encode_response,
    pack,
    unpack,
)

Client = httpclient.InferenceServerClient
rng = np.random.default_rng(0)

SAMPLES = {
    "FP32": rng.standard_normal((2, 3)).astype(np.float32),
    "INT64": rng.integers(-(2**40), 2**40, size=(3, 2), dtype=np.int64),
    "BOOL": rng.integers(0, 2, size=(4,)).astype(bool),
    "FP16": rng.standard_normal((2, 2, 2)).astype(np.float16),
    "BYTES": np.array([[b"hello", "héllo".encode()], [b"", b"x" * 300]], dtype=object),
}


def _client_body(arrays: dict[str, tuple[np.ndarray, str]], binary: bool, outputs=None):
    inputs = []
    for name, (array, datatype) in arrays.items():
        inp = httpclient.InferInput(name, list(array.shape), datatype)
        inp.set_data_from_numpy(array, binary_data=binary)
        inputs.append(inp)
    return Client.generate_request_body(inputs, outputs=outputs)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_tritonclient_request_decodes_to_the_same_array(datatype, binary):
    array = SAMPLES[datatype]
    body, header_length = _client_body({"t": (array, datatype)}, binary)

    decoded = decode_request(body, header_length).inputs["t"]

    assert decoded.shape == array.shape
    if datatype == "BYTES":
        assert decoded.tolist() == array.tolist()
    else:
        assert decoded.dtype == array.dtype
        np.testing.assert_array_equal(decoded, array)


def test_mixed_binary_and_json_inputs_keep_their_order_and_bytes():
    body, header_length = Client.generate_request_body([
        httpclient.InferInput("a", [2, 3], "FP32").set_data_from_numpy(SAMPLES["FP32"]),
        httpclient.InferInput("b", [3, 2], "INT64").set_data_from_numpy(
            SAMPLES["INT64"], binary_data=False),
        httpclient.InferInput("c", [2, 2], "BYTES").set_data_from_numpy(SAMPLES["BYTES"]),
    ])
    request = decode_request(body, header_length)
    assert list(request.inputs) == ["a", "b", "c"]
    np.testing.assert_array_equal(request.inputs["a"], SAMPLES["FP32"])
    np.testing.assert_array_equal(request.inputs["b"], SAMPLES["INT64"])
    assert request.inputs["c"].tolist() == SAMPLES["BYTES"].tolist()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_encoded_response_parses_back_in_tritonclient(binary):
    outputs = dict(SAMPLES)
    body, header_length = encode_response("acme.mlp", "3", outputs, request_id="r1",
                                          binary_outputs=binary)
    result = Client.parse_response_body(body, header_length=header_length)

    assert result.get_response()["id"] == "r1"
    assert (header_length is not None) == binary
    for name, array in outputs.items():
        got = result.as_numpy(name)
        if name == "BYTES":
            expect = array.tolist() if binary else [[x.decode() for x in r] for r in array]
            assert got.tolist() == expect
        else:
            assert got.dtype == array.dtype
            np.testing.assert_array_equal(got, array)


def test_requested_output_flags_choose_binary_per_output():
    body, header_length = _client_body(
        {"x": (SAMPLES["FP32"], "FP32")}, True,
        outputs=[httpclient.InferRequestedOutput("y", binary_data=False),
                 httpclient.InferRequestedOutput("z", binary_data=True)],
    )
    request = decode_request(body, header_length)
    names = request.output_names(["z", "y", "w"])
    assert names == ["y", "z"]
    assert request.binary_outputs(names) == {"z"}


def test_no_requested_outputs_means_all_outputs_in_binary():
    body, header_length = _client_body({"x": (SAMPLES["FP32"], "FP32")}, True)
    request = decode_request(body, header_length)
    assert request.output_names(["y", "z"]) == ["y", "z"]
    assert request.binary_outputs(["y", "z"]) == {"y", "z"}


def test_unknown_requested_output_is_refused_with_the_available_names():
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}],
                       "outputs": [{"name": "nope"}]}).encode()
    with pytest.raises(TensorError, match="unknown output 'nope'.*: y"):
        decode_request(body).output_names(["y"])


def test_nested_json_data_is_read_row_major():
    body = json.dumps({"inputs": [{"name": "x", "datatype": "INT32", "shape": [2, 3],
                                   "data": [[1, 2, 3], [4, 5, 6]]}]}).encode()
    np.testing.assert_array_equal(decode_request(body).inputs["x"], [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("data, message", [
    ([1, 2, 3], "got 3 elements, expected 6 elements for shape \\[2, 3\\]"),
    ([[1, 2], [3, 4, 5, 6]], "flat or row-major nested list"),
    (["a"] * 6, "INT32 data must be integers"),
    ([1.5] * 6, "INT32 data must be integers"),
    ([2**40] * 6, "out of range for INT32"),
])
def test_json_data_that_does_not_fit_is_refused_naming_the_input(data, message):
    body = json.dumps({"inputs": [{"name": "tokens", "datatype": "INT32", "shape": [2, 3],
                                   "data": data}]}).encode()
    with pytest.raises(TensorError, match=message) as info:
        decode_request(body)
    assert info.value.status == 400
    assert "'tokens'" in info.value.message


def test_binary_size_that_does_not_match_the_shape_is_refused():
    body, header_length = _client_body({"x": (SAMPLES["FP32"], "FP32")}, True)
    doc = json.loads(body[:header_length])
    doc["inputs"][0]["shape"] = [3, 3]
    header = json.dumps(doc).encode()
    with pytest.raises(TensorError, match="'x': binary_data_size is 24 bytes but FP32 \\[3, 3\\]"):
        decode_request(header + body[header_length:], len(header))


def test_unclaimed_trailing_bytes_are_refused():
    body, header_length = _client_body({"x": (SAMPLES["FP32"], "FP32")}, True)
    with pytest.raises(TensorError, match="4 bytes of binary data were not claimed"):
        decode_request(body + b"junk", header_length)


def test_tensor_over_the_element_cap_is_413_before_any_allocation():
    body = json.dumps({"inputs": [{"name": "big", "datatype": "FP32",
                                   "shape": [10**6, 10**6], "data": [0]}]}).encode()
    with pytest.raises(PayloadTooLarge, match="'big' has 1000000000000 elements") as info:
        decode_request(body, max_elements_per_tensor=1000)
    assert info.value.status == 413


def test_total_elements_over_the_cap_is_413():
    inputs = [{"name": f"x{i}", "datatype": "FP32", "shape": [600], "data": [0.0] * 600}
              for i in range(2)]
    with pytest.raises(PayloadTooLarge, match="more than 1000 tensor elements in total"):
        decode_request(json.dumps({"inputs": inputs}).encode(), max_total_elements=1000)


def test_body_over_the_byte_cap_is_413():
    with pytest.raises(PayloadTooLarge) as info:
        decode_request(b" " * 2048, max_body_bytes=1024)
    assert info.value.status == 413


@pytest.mark.timeout(10)
def test_json_nested_a_million_deep_is_refused_with_flat_memory():
    depth = 10**6
    body = (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":'
            + b"[" * depth + b"]" * depth + b"}]}")
    tracemalloc.start()
    try:
        with pytest.raises(TensorError, match="nested too deeply") as info:
            decode_request(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.status == 400
    assert peak < 8 * len(body)  # a copy or two of the body, not a million Python lists


def test_malformed_json_is_400():
    with pytest.raises(TensorError, match="not valid JSON") as info:
        decode_request(b'{"inputs": [')
    assert info.value.status == 400


SIGNATURE = {
    "inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [-1, 8]},
               {"name": "mask", "datatype": "INT64", "shape": [-1, 8]}],
    "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 2]}],
    "batched": True,
}


def _ids(rows: int = 2, cols: int = 8, dtype=np.int64) -> np.ndarray:
    return np.zeros((rows, cols), dtype=dtype)


@pytest.mark.parametrize("inputs, message", [
    ({"input_ids": _ids()}, "missing input 'mask': expected INT64 \\[-1, 8\\]"),
    ({"input_ids": _ids(), "mask": _ids(), "extra": _ids()}, "unexpected input 'extra'"),
    ({"input_ids": _ids(dtype=np.float32), "mask": _ids()},
     "input 'input_ids' is FP32; expected INT64 \\[-1, 8\\]"),
    ({"input_ids": np.zeros((2, 8, 1), np.int64), "mask": _ids()},
     "input 'input_ids' has shape \\[2, 8, 1\\]; expected INT64 \\[-1, 8\\]"),
    ({"input_ids": _ids(cols=7), "mask": _ids()},
     "input 'input_ids' has shape \\[2, 7\\]; expected INT64 \\[-1, 8\\]"),
    ({"input_ids": _ids(rows=2), "mask": _ids(rows=3)},
     "share the batch size.*'input_ids' has 2, 'mask' has 3"),
])
def test_inputs_that_do_not_fit_the_signature_are_400_naming_the_input(inputs, message):
    with pytest.raises(TensorError, match=message) as info:
        validate_against_signature(inputs, SIGNATURE)
    assert info.value.status == 400


def test_inputs_that_fit_the_signature_pass():
    validate_against_signature({"input_ids": _ids(5), "mask": _ids(5)}, SIGNATURE)


def test_pack_survives_a_json_broker_hop_unchanged():
    packed = json.loads(json.dumps(pack(SAMPLES)))
    restored = unpack(packed)
    assert list(restored) == list(SAMPLES)
    for name, array in SAMPLES.items():
        assert restored[name].shape == array.shape
        assert restored[name].tolist() == array.tolist()
        if name != "BYTES":
            assert restored[name].dtype == array.dtype
