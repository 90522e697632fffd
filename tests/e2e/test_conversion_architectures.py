"""Eight Hugging Face architectures no one here wrote, built from small configs, uploaded as HF
zips and taken through every stage by a real worker. Conversion itself is tested in
tests/runtime; this proves the Django pipeline path for each kind of graph."""

import pytest

from tests.e2e.test_conversion_pipeline import create_listing, upload, wait_for
from tests.runtime.fixtures_models import build_hf_zip

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ARCHITECTURES = ["bert", "distilbert", "roberta", "gpt2", "vit", "resnet", "convnext", "t5_encoder",
                 "clip_text"]  # fmt: skip


def test_hf_architectures_reach_ready_with_parity(vendor, start_worker, tmp_path):
    start_worker(queues="convert,default", name="convert", concurrency=2)
    uploads = {}
    for arch in ARCHITECTURES:
        slug = arch.replace("_", "-")
        create_listing(vendor, slug)
        uploads[arch] = (slug, upload(vendor, slug, build_hf_zip(arch, tmp_path))["version"])
    outcomes = {arch: wait_for(vendor, slug, version, timeout=420) for arch, (slug, version) in uploads.items()}
    failed = {arch: body["failure"] for arch, body in outcomes.items() if body["status"] != "ready"}
    assert not failed
    for arch, body in outcomes.items():
        assert body["parity"]["passed"] and body["parity"]["max_abs_error"] <= 1e-4, arch
        assert body["benchmark"]["batches"]["1"]["p50_ms"] > 0, arch
