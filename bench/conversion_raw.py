"""Conversion cost per architecture: export time, child peak memory, parity, INT8 delta.

Run: .venv/bin/python bench/conversion_raw.py [arch ...]   (writes bench/results/conversion_raw.json)
Timing lives here, never in tests (STYLE.md).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.conversion.steps import pipeline_steps as steps  # noqa: E402
from tests.runtime.fixtures_models import (  # noqa: E402
    HF_ARCHITECTURES,
    build_hf_zip,
    build_minilm_zip,
)


def one(name: str, tmp: Path) -> dict:
    upload = build_minilm_zip(tmp) if name == "all-minilm-l6-v2" else build_hf_zip(name, tmp)
    work = tmp / "work"
    started = time.perf_counter()
    scanned = steps.scan(upload, work)
    converted = steps.convert_in_sandbox(scanned, work)
    validated = steps.validate_in_sandbox(converted, work)
    optimized = steps.optimize(converted, work)
    profile = steps.benchmark(converted, work, onnx_path=optimized["optimized_path"], runs=10)
    return {
        "model": name,
        "exporter": converted["exporter"],
        "export_seconds": converted["export_seconds"],
        "convert_peak_rss_mb": converted["sandbox"]["peak_rss_mb"],
        "convert_peak_address_space_mb": converted["sandbox"].get("peak_address_space_mb"),
        "parity_max_abs": validated["max_abs_error"],
        "int8_max_abs_delta": (optimized.get("int8") or {}).get("max_abs_delta"),
        "latency": profile["batches"],
        "pipeline_seconds": round(time.perf_counter() - started, 2),
    }


def main(names: list[str]) -> None:
    rows = []
    for name in names or [*sorted(HF_ARCHITECTURES), "all-minilm-l6-v2"]:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(one(name, Path(tmp)))
            print(json.dumps(rows[-1]))
    out = ROOT / "bench" / "results" / "conversion_raw.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
