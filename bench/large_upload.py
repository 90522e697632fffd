"""A multi-GB sharded checkpoint pushed through the `modelbay` CLI against `make run`'s stack,
against `cp` of the same bytes on the same disk.

Run: .venv/bin/python bench/large_upload.py [--gb 6] [--cp-rounds 2]

What it does, in one run of the stack `make run` starts (runstack on the embedded default:
SQLite, embedded Redis, local disk, gunicorn web, Celery workers, beat; started as
tests/e2e/test_run_stack.py does):
1. writes a synthetic sharded safetensors checkpoint: a real Llama config scaled to --gb (fp16,
   shards of at most 1 GiB, model.safetensors.index.json, random weights), so `complete` accepts
   it as a Hugging Face folder;
2. interleaves `cp -r` of the folder (same disk) and `modelbay push` of it (default part size and
   --jobs), wall time of each; the ratio is push / median cp;
3. a second push killed (SIGKILL) once the server holds half the bytes, then run again: the bytes
   the restart sends, and the bytes sent twice: what the killed client had put on the wire (its
   connections' acknowledged bytes, from `ss`) that the server had not kept (parts in flight);
4. meanwhile the peak resident memory of the web processes and the workers (sampled, and VmHWM).

The timing ends when `complete` answers (the version is created, status `received`): converting a
6 GB checkpoint would take far longer than the upload on this machine, so the conversion worker
is paused (SIGSTOP) for the run and the versions are deleted before it resumes. Writes
bench/results/large_upload.json; deletes its checkpoint and copies. Never asserts a time.
The checkpoint is bench/support/checkpoint.py's, the memory sampler bench/support/runstack_memory.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support.checkpoint import GiB, MiB, write_checkpoint  # noqa: E402
from bench.support.runstack_memory import MemorySampler, resident  # noqa: E402
from tests.e2e.test_run_stack import processes_of, stack_up  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODELBAY = Path(sys.executable).parent / "modelbay"


# --- the runs -----------------------------------------------------------------------------------

def cp_seconds(source: Path, scratch: Path) -> float:
    target = scratch / "copy"
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(target)
    return seconds


def push_command(slug: str, source: Path, version: str) -> list[str]:
    return [str(MODELBAY), "push", f"acme-ai/{slug}", str(source), "--version", version, "--no-wait", "--create"]


def push(env: dict, slug: str, source: Path, version: str, var_dir: Path, log: Path) -> dict:
    started = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(push_command(slug, source, version), env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = MemorySampler(var_dir, {"cli": process.pid})
        sampler.start()
        code = process.wait()
    seconds = time.perf_counter() - started
    peak = sampler.stop()
    text = log.read_text()
    if code != 0:
        raise RuntimeError(f"push exited {code}:\n{text[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss": peak, "output": text}


def acked_by_connection(pid: int) -> dict[str, int]:
    """Bytes each TCP connection of `pid` has had acknowledged by the peer (ss -tinp)."""
    lines = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True).stdout.splitlines()
    acked = {}
    for socket_line, info in zip(lines, lines[1:], strict=False):
        if f"pid={pid}," in socket_line and (match := re.search(r"bytes_acked:(\d+)", info)):
            acked[" ".join(socket_line.split()[3:5])] = int(match.group(1))  # by local and peer address
    return acked


def killed_and_resumed(env: dict, source: Path, var_dir: Path, scratch: Path, api) -> dict:
    log = scratch / "killed.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(push_command("resume", source, "1.0.0"), env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    session_id, wire = None, {}
    while process.poll() is None:
        # Per connection, the most acknowledged: a connection that closes keeps its count here.
        for connection, acked in acked_by_connection(process.pid).items():
            wire[connection] = max(wire.get(connection, 0), acked)
        match = re.search(r"Upload ([0-9a-f-]{36})", log.read_text())
        if match and session_id is None:
            session_id = match.group(1)
        if session_id:
            state = api("GET", f"/api/v1/vendor/uploads/{session_id}")
            if state["bytes_received"] >= state["total_size"] / 2:
                for connection, acked in acked_by_connection(process.pid).items():
                    wire[connection] = max(wire.get(connection, 0), acked)
                process.send_signal(signal.SIGKILL)
                break
        time.sleep(0.05)
    process.wait()
    wire_bytes = sum(wire.values())  # bodies plus a few hundred bytes of headers a request
    killed_after = time.perf_counter() - started
    time.sleep(2)  # a part whose body had all arrived is still committed
    state = api("GET", f"/api/v1/vendor/uploads/{session_id}")
    present = state["bytes_received"]
    resumed = push(env, "resume", source, "1.0.0", var_dir, scratch / "resumed.log")
    sent = re.search(r"^Sent (\d+) parts \(([\d.]+) MiB\)", resumed["output"], re.M)
    skipped = re.search(r"^Skipped (\d+) of (\d+) parts", resumed["output"], re.M)
    return {
        "killed_after_seconds": round(killed_after, 1), "total_bytes": state["total_size"],
        "bytes_kept_by_server_at_kill": present, "bytes_on_the_wire_before_kill": wire_bytes,
        "bytes_sent_twice": max(0, wire_bytes - present),
        "parts_skipped_on_restart": int(skipped.group(1)), "parts_total": int(skipped.group(2)),
        "parts_sent_on_restart": int(sent.group(1)), "bytes_sent_on_restart": round(float(sent.group(2)) * MiB),
        "restart_seconds": resumed["seconds"], "restart_peak_rss": resumed["peak_rss"],
    }


def api_caller(base: str, key: str):
    import requests

    def call(method: str, path: str) -> dict:
        response = requests.request(method, base + path, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        response.raise_for_status()
        return response.json() if response.content else {}
    return call


def pause_converter(var_dir: Path, sig: int) -> None:
    for pid, cmdline in processes_of(var_dir).items():
        if "convert@" in cmdline:
            os.kill(pid, sig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=6.0, help="checkpoint size in GiB (default 6)")
    parser.add_argument("--cp-rounds", type=int, default=2, help="cp runs around the push (default 2)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mb-bench-upload-"))
    try:
        source = scratch / "checkpoint"
        started = time.perf_counter()
        size = write_checkpoint(source, int(args.gb * GiB))
        files = sorted(p.name for p in source.iterdir())
        print(f"checkpoint: {len(files)} files, {size / GiB:.2f} GiB written in {time.perf_counter() - started:.0f} s")
        with stack_up() as stack:
            key = re.search(r"^\s+vendor\s+(mb_\w+)", stack.log(), re.M).group(1)
            env = {**os.environ, "MODELBAY_URL": stack.base, "MODELBAY_API_KEY": key,
                   "XDG_CONFIG_HOME": str(scratch / "config")}
            api = api_caller(stack.base, key)
            pause_converter(stack.var_dir, signal.SIGSTOP)
            try:
                idle = resident(stack.var_dir)
                cp_runs = [cp_seconds(source, scratch)]
                full = push(env, "bench", source, "1.0.0", stack.var_dir, scratch / "push.log")
                for _ in range(max(0, args.cp_rounds - 1)):
                    cp_runs.append(cp_seconds(source, scratch))
                api("DELETE", "/api/v1/vendor/models/bench/versions/1.0.0")  # frees its 6 GB artifact
                resume = killed_and_resumed(env, source, stack.var_dir, scratch, api)
                api("DELETE", "/api/v1/vendor/models/resume/versions/1.0.0")
            finally:
                pause_converter(stack.var_dir, signal.SIGCONT)
        shutil.rmtree(stack.var_dir, ignore_errors=True)  # the stack's database, logs and media
        cp_median = statistics.median(cp_runs)
        result = {
            "what": "modelbay push (CLI, multipart, default part size and --jobs) of a sharded safetensors "
                    "checkpoint to make run's stack, timed until `complete` answers (version created; the "
                    "conversion is not part of it), against cp -r of the same folder on the same disk",
            "bytes": size, "files": files, "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "push_seconds": full["seconds"], "cp_seconds": [round(s, 1) for s in cp_runs],
            "ratio_push_to_cp": round(full["seconds"] / cp_median, 2),
            "push_mib_per_s": round(size / MiB / full["seconds"], 1),
            "rss_idle_mib": idle, "peak_rss_during_push": full["peak_rss"],
            "kill_at_half_and_resume": resume,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "large_upload.json").write_text(json.dumps(result, indent=2) + "\n")
        report(result)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(r: dict) -> None:
    print(f"\n{r['bytes'] / GiB:.2f} GiB in {len(r['files'])} files; timed until `complete` answers "
          "(the conversion of such a checkpoint is not part of this bench)")
    print(f"{'modelbay push':<16} {r['push_seconds']:>8.1f} s  ({r['push_mib_per_s']} MiB/s)")
    print(f"{'cp -r':<16} {statistics.median(r['cp_seconds']):>8.1f} s  (median of {r['cp_seconds']})")
    print(f"{'ratio push/cp':<16} {r['ratio_push_to_cp']:>8}")
    print("\npeak RSS during the push, MiB (largest process / all of the role; idle all):")
    for role, peak in r["peak_rss_during_push"].items():
        print(f"  {role:<15} {peak['largest_process_mib']:>8} / {peak['all_processes_mib']:>8}"
              f"   idle {r['rss_idle_mib'].get(role, '-')}")
    k = r["kill_at_half_and_resume"]
    print(f"\nkilled at half ({k['bytes_kept_by_server_at_kill'] / MiB:.0f} MiB kept of {k['total_bytes'] / MiB:.0f}),"
          f" restarted: skipped {k['parts_skipped_on_restart']} of {k['parts_total']} parts, sent "
          f"{k['parts_sent_on_restart']} ({k['bytes_sent_on_restart'] / MiB:.0f} MiB) in {k['restart_seconds']} s;"
          f" bytes sent twice (on the wire before the kill, not kept): {k['bytes_sent_twice'] / MiB:.0f} MiB")


if __name__ == "__main__":
    main()
