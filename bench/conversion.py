"""Upload -> ready through the REAL pipeline, against plain `torch.onnx.export`.

Run: .venv/bin/python bench/conversion.py [--only bert,gpt2] [--concurrency 1]

How: a throw-away environment (its own VAR_DIR: SQLite + an embedded Redis), a real Celery
worker process on the `convert` queue, uploads through the vendor API (DRF test client in this
process, the same multipart path a vendor uses). Seconds are wall time from the upload request
to `ready` as seen by polling the API. The baseline exports the same model in this process
with `torch.onnx.export` (dynamo exporter for HF/.pt2, TorchScript exporter for .ts), timing
the export call only (no torch import, no validation). Writes bench/results/conversion.json.
Never part of the test suite; never asserts a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["MODELBAY_VAR_DIR"] = tempfile.mkdtemp(prefix="mb-bench-conv-")
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
os.environ["MODELBAY_WORKER_USES_TEST_DB"] = "1"  # this process and the worker share one DB file
for var in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(var, None)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from tests.runtime import fixtures_models as fm  # noqa: E402

HF = ["bert", "distilbert", "roberta", "gpt2", "vit", "resnet", "convnext", "t5_encoder", "clip_text"]


def build_cases(out: Path, only: set[str] | None) -> list[dict]:
    cases = [{"arch": a, "format": "hf_zip", "path": fm.build_hf_zip(a, out)} for a in HF]
    cases.append({"arch": "all-MiniLM-L6-v2 (real weights)", "format": "hf_zip", "path": fm.build_minilm_zip(out)})
    ts, npz = fm.build_torchscript(out)
    cases.append({"arch": "mlp", "format": "torchscript", "path": ts, "examples": npz})
    cases.append({"arch": "mlp", "format": "torch_export", "path": fm.build_pt2(out)})
    return [c for c in cases if not only or c["arch"].split(" ")[0].lower() in only]


def baseline_seconds(case: dict, out: Path) -> float | None:
    """Plain torch.onnx.export of the same model, export call only."""
    import torch
    import transformers

    from inference.conversion.steps.hf_export import example_inputs, load_model

    target = out / f"baseline-{case['arch'].split(' ')[0]}-{case['format']}.onnx"
    try:
        if case["format"] == "hf_zip":
            folder = out / f"unzipped-{target.stem}"
            import zipfile

            with zipfile.ZipFile(case["path"]) as zf:
                zf.extractall(folder)
            model = load_model(str(folder))
            inputs = example_inputs(model, None)
            started = time.perf_counter()
            torch.onnx.export(model, (), str(target), kwargs=dict(inputs), dynamo=True, verbose=False)
        elif case["format"] == "torchscript":
            module = torch.jit.load(str(case["path"]))
            x = torch.from_numpy(fm.mlp_example())
            started = time.perf_counter()
            torch.onnx.export(module, (x,), str(target), dynamo=False)
        else:
            program = torch.export.load(str(case["path"]))
            started = time.perf_counter()
            torch.onnx.export(program, program.example_inputs[0], str(target), dynamo=True, verbose=False)
        return round(time.perf_counter() - started, 2)
    except Exception as exc:  # the baseline is informative only
        print(f"  baseline failed for {case['arch']}: {type(exc).__name__}: {exc}"[:300])
        return None
    finally:
        del transformers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated architectures (e.g. bert,mlp)")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    only = {s.strip().lower() for s in args.only.split(",") if s.strip()} or None
    logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # the baseline exporter is chatty

    from accounts.models import ApiKey, User
    from accounts.services import api_key_create, organization_create
    from core import embedded_redis
    from tests.workers import WorkerProcess, worker_env

    redis = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, data_dir=Path(settings.VAR_DIR) / "redis")
    worker = None
    try:
        call_command("migrate", verbosity=0)
        owner = User.objects.create_user(email="bench@example.com", password="bench-password-1")
        org = organization_create(owner=owner, name="Bench Vendor", slug="bench-vendor")
        _, secret = api_key_create(organization=org, created_by=owner, name="bench", scopes=[ApiKey.Scope.VENDOR_WRITE])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        out = Path(settings.VAR_DIR) / "models"
        out.mkdir()
        cases = build_cases(out, only)
        worker = WorkerProcess(queues="convert", name="bench", concurrency=args.concurrency, env=worker_env())
        rows = []
        for i, case in enumerate(cases):
            slug = f"m{i}"
            client.post("/api/v1/vendor/models", {"name": case["arch"], "slug": slug}, format="json")
            started = time.perf_counter()
            with open(case["path"], "rb") as fh:
                payload = {"file": fh}
                if case.get("examples"):
                    payload["example_inputs"] = open(case["examples"], "rb")  # noqa: SIM115
                response = client.post(f"/api/v1/vendor/models/{slug}/versions", payload, format="multipart")
            body = response.json()
            version = body.get("version")
            while response.status_code == 202 and body["status"] not in ("ready", "failed"):
                time.sleep(0.25)
                body = client.get(f"/api/v1/vendor/models/{slug}/versions/{version}").json()
            seconds = round(time.perf_counter() - started, 2)
            ok = body.get("status") == "ready"
            rows.append({
                "architecture": case["arch"], "format": case["format"], "status": body.get("status"),
                "seconds_upload_to_ready": seconds,
                "parity_max_abs": (body.get("parity") or {}).get("max_abs_error"),
                "onnx_bytes": body.get("onnx_size"),
                "p50_ms_batch1": ((body.get("benchmark") or {}).get("batches") or {}).get("1", {}).get("p50_ms"),
                "stage_seconds": {s["name"]: s.get("duration") for s in body.get("stages", [])},
                "failure": body.get("failure") if not ok else None,
                "torch_onnx_export_seconds": baseline_seconds(case, out),
            })
            print(f"{case['arch']:<32} {body.get('status')} in {seconds}s", flush=True)
        print_table(rows)
        results = ROOT / "bench" / "results"
        results.mkdir(parents=True, exist_ok=True)
        (results / "conversion.json").write_text(json.dumps({"rows": rows, "cpus": os.cpu_count(),
                                                             "worker_concurrency": args.concurrency}, indent=2))
    finally:
        if worker is not None:
            worker.stop()
        embedded_redis.stop(redis)


def print_table(rows: list[dict]) -> None:
    head = f"{'architecture':<32} {'format':<13} {'upload→ready s':>14} {'export s':>9} {'parity max-abs':>15} " \
           f"{'ONNX MB':>8} {'p50 ms':>8}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        parity = f"{r['parity_max_abs']:.2e}" if r["parity_max_abs"] is not None else "-"
        size = f"{r['onnx_bytes'] / 2**20:.2f}" if r["onnx_bytes"] else "-"
        p50 = f"{r['p50_ms_batch1']:.3f}" if r["p50_ms_batch1"] is not None else "-"
        base = f"{r['torch_onnx_export_seconds']}" if r["torch_onnx_export_seconds"] is not None else "-"
        status = "" if r["status"] == "ready" else f"  [{r['status']}]"
        print(f"{r['architecture']:<32} {r['format']:<13} {r['seconds_upload_to_ready']:>14} {base:>9} "
              f"{parity:>15} {size:>8} {p50:>8}{status}")
    ok = sum(r["status"] == "ready" for r in rows)
    print(f"\n{ok}/{len(rows)} reached ready")


if __name__ == "__main__":
    main()
