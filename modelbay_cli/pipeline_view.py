"""Following a pushed version through the pipeline (scanning .. benchmarking) and printing what a
vendor wants to know at the end: the parity card (how faithful the ONNX model is to the upload),
the signature to call it with, or the stage that failed and why."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

from modelbay_cli.api import Api
from modelbay_cli.errors import CliError, Exit

FINAL = {"ready", "failed", "quarantined"}
POLL_SECONDS = 1.0
SUMMARY_KEYS = ("exporter", "export_seconds", "passed", "max_abs_error", "reason", "code")


def _summary(detail: dict[str, Any]) -> str:
    parts = [f"{key}={detail[key]}" for key in SUMMARY_KEYS
             if isinstance(detail.get(key), str | int | float | bool)]  # fmt: skip
    return "  " + " ".join(parts) if parts else ""


def follow(api: Api, slug: str, version: str, out: Console, *, timeout: float) -> dict:
    """Polls the version until it is final, printing each stage as it starts and ends."""
    path = f"/api/v1/vendor/models/{slug}/versions/{version}"
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        current = api.get(path)
        for stage in current.get("stages", []):
            name, state = stage["name"], stage.get("state", "pending")
            if seen.get(name, "pending") == state:
                continue
            seen[name] = state
            if state == "running":
                out.print(f"  {name:<13} running")
            else:
                took = f" in {stage['duration']:.1f} s" if isinstance(stage.get("duration"), int | float) else ""
                out.print(f"  {name:<13} {state}{took}{_summary(stage.get('detail') or {})}")
        if current.get("status") in FINAL:
            return current
        if time.monotonic() > deadline:
            raise CliError(f"Version {version} is still {current.get('status')} after {timeout:.0f} s; "
                           "it goes on without the CLI (see the vendor portal).",
                           exit_code=Exit.SERVER, code="wait_timeout")
        time.sleep(POLL_SECONDS)


def report(version: dict, full_name: str, out: Console) -> None:
    """The end of a push: the parity card and how to call the model, or the failure."""
    status = version.get("status")
    if status != "ready":
        failure = version.get("failure") or {}
        hint = f" {failure['hint']}" if failure.get("hint") else ""
        raise CliError(f"Version {version.get('version')} {status} at {failure.get('stage') or 'the pipeline'}: "
                       f"{failure.get('reason') or 'no reason given'}.{hint}",
                       exit_code=Exit.PIPELINE_FAILED, code=failure.get("code") or status or "")
    parity_card(version.get("parity") or {}, out)
    signature = version.get("signature") or {}
    if signature.get("kind") == "llm":
        out.print(f"Ready: chat with it with `modelbay chat {full_name}`.")
        return
    names = [spec.get("name") for spec in signature.get("inputs", []) if isinstance(spec, dict)]
    inputs = " ".join(f"--input {name}=@{name}.npy" for name in names) or "--input NAME=@file.npy"
    out.print(f"Ready: call it with `modelbay predict {full_name} {inputs}`.")


def parity_card(parity: dict, out: Console) -> None:
    if not parity:
        out.print("Parity: not reported.")
        return
    verdict = "passed" if parity.get("passed") else "FAILED"
    if parity.get("kind") == "generation":
        fp32 = parity.get("fp32") or {}
        out.print(f"Parity card: {verdict} - greedy generation, {parity.get('prompts')} prompts x "
                  f"{parity.get('new_tokens')} tokens, ONNX Runtime GenAI vs transformers")
        out.print(f"  fp32: token for token {'identical' if fp32.get('exact') else 'different'}"
                  + (f", first divergence {fp32['first_divergence']}" if fp32.get("first_divergence") else ""))
        int4 = parity.get("int4") or {}
        if int4.get("token_agreement") is not None:
            out.print(f"  int4: token agreement {int4['token_agreement']:.1%} (offered, never substituted)")
        return
    outputs = parity.get("outputs") or {}
    if "atol" not in parity:  # an ONNX upload validated before it was compared with anything
        out.print(f"Parity card: {verdict} - ONNX upload, nothing to compare with; outputs run and are finite")
    elif parity.get("kind") == "smoke_run":  # an ONNX upload: served (optimised) vs as uploaded
        out.print(f"Parity card: {verdict} - ONNX upload: the served, optimised graph vs the graph as "
                  f"uploaded (atol {parity['atol']:g}, rtol {parity['rtol']:g}), max abs error "
                  f"{parity.get('max_abs_error') or 0:.3g}")
    else:
        out.print(f"Parity card: {verdict} - ONNX vs the uploaded model on the example inputs "
                  f"(atol {parity['atol']:g}, rtol {parity['rtol']:g}), max abs error "
                  f"{parity.get('max_abs_error', 0):.3g}")
    for check in parity.get("lengths") or []:  # the same at other lengths of a dynamic axis
        shapes = ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in check["shapes"].items())
        out.print(f"  at {shapes}: {'passed' if check['passed'] else 'FAILED'}, max abs error "
                  f"{_num(check.get('max_abs_error'))}")
    table = Table("output", "shape", "max abs", "max rel", "passed", box=None, pad_edge=False)
    for name, row in outputs.items():
        table.add_row(name, "x".join(map(str, row.get("shape", []))) or "scalar", _num(row.get("max_abs")),
                      _num(row.get("max_rel")), "yes" if row.get("passed", row.get("finite")) else "NO")
    if outputs:
        out.print(table)


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "-"
