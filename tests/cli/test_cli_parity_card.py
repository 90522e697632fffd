"""The CLI's parity card after a push says what was compared: other input lengths for a model
with a dynamic time axis, the served graph against the uploaded one for an ONNX upload."""

from rich.console import Console

from modelbay_cli.pipeline_view import parity_card
from tests.pages.test_parity_card_pages import ONNX_UPLOAD_PARITY, WAV2VEC2_PARITY


def _printed(parity: dict) -> str:
    out = Console(record=True, width=200)
    parity_card(parity, out)
    return out.export_text()


def test_card_lists_parity_at_the_other_input_lengths():
    text = _printed(WAV2VEC2_PARITY)
    assert "Parity card: passed - ONNX vs the uploaded model on the example inputs" in text
    assert "at input_values 2x10001: passed, max abs error 3.58e-07" in text
    assert "at input_values 2x24003: passed, max abs error 3.87e-07" in text


def test_card_of_an_onnx_upload_says_it_compares_the_served_graph_with_the_uploaded_one():
    text = _printed(ONNX_UPLOAD_PARITY)
    assert "ONNX upload: the served, optimised graph vs the graph as uploaded" in text
    assert "max abs error 2.5e-07" in text and "example inputs" not in text
