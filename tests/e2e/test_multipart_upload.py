"""Multipart uploads with REAL worker processes (issue #15 item 1): a Hugging Face folder sent
file by file in small parts reaches `ready` through the conversion pipeline, and beat's expiry
task, run by a worker, deletes an idle session's parts."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from celery import current_app
from django.utils import timezone

from marketplace.models import ModelVersion, UploadPart, UploadSession
from tests.e2e.test_conversion_pipeline import create_listing, wait_for
from tests.marketplace.test_multipart_uploads import complete, open_upload, parts_dir, put_part

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PART = 16 * 1024


@pytest.fixture(autouse=True)
def small_parts(settings):
    settings.MODELBAY_UPLOAD_MIN_PART_BYTES = 4096
    settings.MODELBAY_UPLOAD_PART_BYTES = PART


def hf_folder(out: Path) -> Path:
    """A tiny BERT as `save_pretrained` writes it, in shards, with a tokenizer beside it."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=37, vocab_size=99)  # fmt: skip
    folder = out / "tiny-bert"
    transformers.BertModel(config).eval().save_pretrained(folder, max_shard_size="40KB")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"w{i}" for i in range(95)]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "pad_token": "[PAD]"}))
    return folder


def test_a_sharded_hf_folder_uploaded_in_parts_reaches_ready(vendor, start_worker, tmp_path):
    worker = start_worker(queues="convert,default", name="convert", concurrency=1)
    folder = hf_folder(tmp_path)
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    shards = [name for name in files if name.startswith("model-0")]
    assert len(shards) >= 2 and "model.safetensors.index.json" in files and "config.json" in files
    assert any(len(data) > 2 * PART for data in files.values())  # some files take several parts
    create_listing(vendor, "tiny-bert")

    opened = open_upload(vendor, "tiny-bert", files, version="1.0.0")
    assert opened.status_code == 201, opened.content
    body = opened.json()
    # Last part first, as a parallel client might send them; the session says what is present.
    size = body["part_size"]
    parts = [(i, n, data[n * size:(n + 1) * size]) for i, data in enumerate(files.values())
             for n in range(-(-len(data) // size))]  # fmt: skip
    for index, number, chunk in reversed(parts):
        assert put_part(vendor, body["id"], index, number, chunk).status_code == 200
    state = vendor.client.get(f"/api/v1/vendor/uploads/{body['id']}").json()
    assert all(f["present"] == list(range(f["parts"])) for f in state["files"])
    assert state["bytes_received"] == state["total_size"] == sum(len(d) for d in files.values())

    created = complete(vendor, body["id"])
    assert created.status_code == 202, created.content
    assert created.json()["version"] == "1.0.0" and created.json()["source_format"] == "hf_zip"
    ready = wait_for(vendor, "tiny-bert", "1.0.0", timeout=300)
    assert ready["status"] == "ready", (ready["failure"], worker.output()[-3000:])
    assert ready["parity"]["passed"] is True
    assert ModelVersion.objects.get(version="1.0.0").tokenizer_artifact  # the tokenizer came along
    assert not parts_dir(body["id"]).exists() and not UploadPart.objects.exists()


def test_beat_expires_an_idle_session_and_deletes_its_parts(vendor, start_worker):
    start_worker(queues="default", name="beat-tasks", concurrency=1)
    create_listing(vendor, "idle")
    idle = open_upload(vendor, "idle", {"model.onnx": b"i" * 3 * PART}, version="1.0.0").json()
    live = open_upload(vendor, "idle", {"model.onnx": b"l" * 3 * PART}, version="1.0.1").json()
    for session in (idle, live):
        data = (b"i" if session is idle else b"l") * PART
        assert put_part(vendor, session["id"], 0, 0, data).status_code == 200
    UploadSession.objects.filter(pk=idle["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    expired = current_app.send_task("marketplace.tasks.uploads_expire").get(timeout=60)

    assert expired == 1
    assert vendor.client.get(f"/api/v1/vendor/uploads/{idle['id']}").json()["status"] == "expired"
    assert not parts_dir(idle["id"]).exists()
    assert not UploadPart.objects.filter(session_id=idle["id"]).exists()
    late = put_part(vendor, idle["id"], 0, 1, b"i" * PART)
    assert late.status_code == 409 and late.json()["error"]["code"] == "upload_closed"
    still = vendor.client.get(f"/api/v1/vendor/uploads/{live['id']}").json()
    assert still["status"] == "open" and still["files"][0]["present"] == [0] and parts_dir(live["id"]).exists()
