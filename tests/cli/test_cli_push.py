"""`modelbay push` against a live server: a sharded Hugging Face folder goes up in parts, the
pipeline's stages are printed as a real conversion worker runs them, and the parity card at the
end; a client SIGKILLed mid-upload is run again and sends only the parts the server lacks."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from marketplace.models import ModelVersion, UploadPart, UploadSession
from tests.cli.cli import cli_env, modelbay, start
from tests.e2e.test_conversion_pipeline import create_listing
from tests.e2e.test_multipart_upload import PART, hf_folder, small_parts  # noqa: F401 (autouse fixture)
from tests.factories import evil_domain_onnx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wide_bert(out: Path) -> Path:
    """A BERT whose 24k-word embedding makes ~6 MB of shards: hundreds of 16 KiB parts."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=24_000)  # fmt: skip
    folder = out / "wide-bert"
    transformers.BertModel(config).eval().save_pretrained(folder, max_shard_size="2MB")
    return folder


def test_push_of_a_sharded_folder_prints_the_stages_and_the_parity_card(vendor, start_worker, live_server, tmp_path):
    start_worker(queues="convert,default", name="convert", concurrency=1)
    folder = hf_folder(tmp_path)
    create_listing(vendor, "tiny-bert")
    env = cli_env(tmp_path, live_server.url, vendor.secret)

    done = modelbay("push", "vendor-co/tiny-bert", str(folder), "--version", "1.0.0", env=env, timeout=400)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Skipped 0 of" in out and "Sent " in out
    assert "Version 1.0.0 received" in out and "hf_zip" in out
    for stage in ("scanning", "converting", "validating", "optimizing", "benchmarking"):
        assert re.search(rf"^\s+{stage}\s+(done|skipped)", out, re.M), out
    assert "Parity card: passed" in out
    assert "modelbay predict vendor-co/tiny-bert --input input_ids=@input_ids.npy" in out
    assert ModelVersion.objects.get(model__slug="tiny-bert", version="1.0.0").status == "ready"

    again = modelbay("push", "vendor-co/tiny-bert", str(folder), "--version", "1.0.0", env=env)
    assert again.returncode == 5 and "HTTP 409" in again.stderr  # versions are immutable


def test_a_killed_push_resumes_and_sends_only_the_missing_parts(vendor, live_server, tmp_path):
    folder = wide_bert(tmp_path)
    create_listing(vendor, "wide-bert")
    env = cli_env(tmp_path, live_server.url, vendor.secret)
    args = ("push", "vendor-co/wide-bert", str(folder), "--version", "2.0.0", "--part-size", "16KiB",
            "--jobs", "1", "--no-wait")
    total = sum(-(-p.stat().st_size // PART) for p in folder.iterdir() if p.is_file())
    assert total > 300

    first = start(*args, env=env, log=tmp_path / "first.log")
    deadline = time.monotonic() + 120
    while UploadPart.objects.count() < 20:
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        assert time.monotonic() < deadline, "no parts arrived"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    time.sleep(1)  # a part whose body was all sent may still be committed
    session = UploadSession.objects.get()
    present = UploadPart.objects.filter(session=session).count()
    assert session.status == "open" and 20 <= present < total

    second = modelbay(*args, env=env, timeout=300)

    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Resuming upload {session.id}" in second.stdout
    assert f"Skipped {present} of {total} parts already on the server; sending {total - present}." in second.stdout
    assert re.search(rf"^Sent {total - present} parts ", second.stdout, re.M), second.stdout
    session.refresh_from_db()
    assert session.status == "completed" and not UploadPart.objects.exists()
    version = ModelVersion.objects.get(model__slug="wide-bert", version="2.0.0")
    assert version.source_format == "hf_zip"




def test_a_push_whose_complete_a_proxy_cuts_off_waits_for_the_server_and_gets_its_version(vendor, live_server, tmp_path):
    from core.redis import get_redis
    from tests.cli.cutting_proxy import CuttingProxy

    folder = hf_folder(tmp_path)
    create_listing(vendor, "tiny-bert")
    with CuttingProxy(live_server.url, cuts=2) as proxy:
        env = cli_env(tmp_path, proxy.url, vendor.secret)
        done = modelbay("push", "vendor-co/tiny-bert", str(folder), "--version", "1.0.0", "--no-wait", env=env,
                        timeout=300)  # fmt: skip
    get_redis().delete("convert")  # no worker here; leave no pipeline message for later tests

    assert done.returncode == 0, done.stdout + done.stderr
    assert proxy.cut == 2
    assert done.stdout.count("Waiting for the server to finish the upload (the answer was lost: HTTP 504)") == 2
    assert "Version 1.0.0 received" in done.stdout and "hf_zip" in done.stdout
    assert ModelVersion.objects.filter(model__slug="tiny-bert").count() == 1
    assert UploadSession.objects.get().status == "completed" and not UploadPart.objects.exists()


def test_a_version_the_pipeline_refuses_exits_7_and_a_pickle_exits_5(vendor, start_worker, live_server, tmp_path):
    import pickle

    start_worker(queues="convert,default", name="convert", concurrency=1)
    env = cli_env(tmp_path, live_server.url, vendor.secret)
    evil = tmp_path / "evil.onnx"
    evil.write_bytes(evil_domain_onnx())

    failed = modelbay("push", "vendor-co/risky", str(evil), "--version", "1.0.0", "--create", env=env, timeout=300)

    assert failed.returncode == 7, failed.stdout + failed.stderr
    assert "Created the private draft listing vendor-co/risky" in failed.stdout
    assert re.search(r"^\s+scanning\s+failed", failed.stdout, re.M), failed.stdout
    assert "error: Version 1.0.0 failed at scanning" in failed.stderr and "com.evil" in failed.stderr

    pickled = tmp_path / "weights.onnx"
    pickled.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    refused = modelbay("push", "vendor-co/risky", str(pickled), "--version", "1.0.1", env=env)
    assert refused.returncode == 5 and "[unsupported_model_format, HTTP 422]" in refused.stderr, refused.stderr
    assert "pickle" in refused.stderr
    (tmp_path / "inputs.json").write_text("[[1, 2, 3, 4]]")
    bad_examples = modelbay("push", "vendor-co/risky", str(evil), "--version", "1.0.2", "--example-inputs",
                            str(tmp_path / "inputs.json"), env=env)
    assert bad_examples.returncode == 5 and "must hold a JSON object" in bad_examples.stderr
