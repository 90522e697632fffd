"""An audio model through the whole pipeline (issue #16 item 6): a Wav2Vec2 uploaded without
example inputs is converted by a real worker with its time axis dynamic, and the served model
answers /v2 at lengths other than the example's with the source model's outputs."""

import numpy as np
import pytest

from marketplace.models import ModelVersion
from tests.e2e.test_conversion_pipeline import create_listing, upload, wait_for
from tests.inference.serving import body, oip_client, post_infer
from tests.runtime.fixtures_models import build_hf_zip

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _source_logits(folder, waveform: np.ndarray) -> np.ndarray:
    import torch
    import transformers

    model = transformers.Wav2Vec2ForCTC.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(input_values=torch.from_numpy(waveform)).logits.numpy()


def test_wav2vec2_is_served_at_two_lengths_other_than_its_example(vendor, start_worker, fresh_serving_caches,
                                                                  tmp_path):
    worker = start_worker(queues="convert,default", name="convert-audio", concurrency=1)
    create_listing(vendor, "speech")
    created = upload(vendor, "speech", build_hf_zip("wav2vec2", tmp_path))  # no example inputs
    ready = wait_for(vendor, "speech", created["version"], timeout=420)
    assert ready["status"] == "ready", (ready["failure"], worker.output()[-3000:])
    assert ready["signature"]["inputs"] == [{"name": "input_values", "datatype": "FP32", "shape": [-1, -1]}]
    checked = [c["shapes"]["input_values"][1] for c in ready["parity"]["lengths"]]
    assert len(checked) == 2 and 16_000 not in checked and all(c["passed"] for c in ready["parity"]["lengths"])

    start_worker(queues="infer.cpu,default", pool="threads", concurrency=4, name="infer-audio")
    name = ModelVersion.objects.get().model.full_name
    rng = np.random.default_rng(7)
    for samples in (6_400, 20_480):  # neither the example's 16,000 nor a length parity checked
        waveform = rng.standard_normal((1, samples)).astype(np.float32)
        response = post_infer(oip_client(vendor), name, body(waveform, name="input_values"))
        assert response.status_code == 200, response.content
        [logits] = response.json()["outputs"]
        frames = (samples - 400) // 320 + 1  # the feature encoder's strided convolutions
        assert logits["name"] == "logits" and logits["shape"] == [1, frames, 12]
        served = np.array(logits["data"], dtype=np.float32).reshape(logits["shape"])
        np.testing.assert_allclose(served, _source_logits(tmp_path / "wav2vec2-hf", waveform), atol=1e-4)
