"""The version page's parity card says what was compared with what and shows the figures:
other input lengths for converted models (issue #16 item 6), the served-versus-uploaded
difference for ONNX uploads (item 5)."""

import re

import pytest

from marketplace.models import Model
from tests.factories import ready_version

pytestmark = pytest.mark.django_db

WAV2VEC2_PARITY = {
    "kind": "parity", "passed": True, "atol": 0.0001, "rtol": 0.001, "max_abs_error": 3.87e-07,
    "outputs": {"logits": {"passed": True, "shape": [2, 49, 12], "max_abs": 3.13e-07, "max_rel": 1e-05}},
    "lengths": [
        {"shapes": {"input_values": [2, 10001]}, "passed": True, "error": None, "max_abs_error": 3.58e-07},
        {"shapes": {"input_values": [2, 24003]}, "passed": True, "error": None, "max_abs_error": 3.87e-07},
    ],
}  # fmt: skip
ONNX_UPLOAD_PARITY = {
    "kind": "smoke_run", "passed": True, "compared_with": "uploaded_graph", "atol": 0.0001, "rtol": 0.001,
    "max_abs_error": 2.5e-07,
    "outputs": {"y": {"passed": True, "shape": [2, 2], "finite": True, "max_abs": 2.5e-07, "max_rel": 1e-07}},
}  # fmt: skip


def _card(client, vendor, parity: dict) -> str:
    client.force_login(vendor.user)
    model = Model.objects.create(organization=vendor.organization, slug="speech", name="Speech")
    version = ready_version(model)
    version.parity = parity
    version.save(update_fields=["parity"])
    html = client.get("/vendor/models/speech/versions/1.0.0/").content.decode()
    start = html.index('aria-labelledby="parity-title"')
    return html[start:html.index("</section>", start)]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_converted_audio_model_shows_parity_at_the_other_input_lengths(client, vendor):
    card = _card(client, vendor, WAV2VEC2_PARITY)
    text = _text(card)

    assert "on the example inputs and at 2 other input lengths" in text
    assert "largest absolute difference 3.87e-07 (tolerance 0.0001)" in text
    assert "input_values [2, 10001] yes 3.58e-07" in text
    assert "input_values [2, 24003] yes 3.87e-07" in text
    assert "logits [2, 49, 12] 3.13e-07" in text.replace(" yes ", " ")


def test_onnx_upload_fills_the_max_abs_column_with_the_served_against_uploaded_difference(client, vendor):
    text = _text(_card(client, vendor, ONNX_UPLOAD_PARITY))

    assert "no source model to compare with: the served graph" in text
    assert "compared with the graph as uploaded" in text
    assert "y yes [2, 2] 2.5e-07" in text
    assert "—" not in text and "At other input lengths" not in text


def test_an_older_onnx_report_says_no_difference_was_measured_instead_of_an_empty_column(client, vendor):
    older = {"kind": "smoke_run", "passed": True, "outputs": {"y": {"shape": [2, 2], "finite": True}}}
    text = _text(_card(client, vendor, older))

    assert "no difference was measured" in text
    assert "y yes [2, 2] —" in text
