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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.test_run_stack import processes_of, stack_up  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODELBAY = Path(sys.executable).parent / "modelbay"
GiB, MiB = 2**30, 2**20
ROLES = {"web": "gunicorn", "convert-worker": "convert@", "infer-worker": "infer@", "beat": " beat "}


# --- the checkpoint ------------------------------------------------------------------------------

def llama_config(target_bytes: int) -> dict:
    """A Llama-architecture config (the shape of a ~3B model) with as many layers as fill the target."""
    hidden, inter, vocab = 2560, 6912, 32000
    per_layer = 4 * hidden * hidden + 3 * hidden * inter + 2 * hidden
    layers = max(1, round((target_bytes / 2 - 2 * vocab * hidden - hidden) / per_layer))
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
            "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": 20,
            "num_key_value_heads": 20, "vocab_size": vocab, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "float16",
            "bos_token_id": 1, "eos_token_id": 2}


def tensors(config: dict) -> list[tuple[str, list[int]]]:
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    out = [("model.embed_tokens.weight", [v, h])]
    for n in range(config["num_hidden_layers"]):
        p = f"model.layers.{n}."
        out += [(p + f"self_attn.{x}_proj.weight", [h, h]) for x in "qkvo"]
        out += [(p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
                (p + "mlp.down_proj.weight", [h, i]), (p + "input_layernorm.weight", [h]),
                (p + "post_attention_layernorm.weight", [h])]
    return out + [("model.norm.weight", [h]), ("lm_head.weight", [v, h])]


def write_checkpoint(folder: Path, target_bytes: int, shard_bytes: int = GiB) -> int:
    """save_pretrained's layout: model-0000k-of-0000n.safetensors + the index, written streaming."""
    import numpy as np

    config = llama_config(target_bytes)
    shards: list[list[tuple[str, list[int], int]]] = [[]]
    used = 0
    for name, shape in tensors(config):
        size = 2 * int(np.prod(shape))
        if used and used + size > shard_bytes:
            shards.append([])
            used = 0
        shards[-1].append((name, shape, size))
        used += size
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    rng = np.random.default_rng(0)
    weight_map, total = {}, 0
    for k, shard in enumerate(shards, 1):
        filename = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape, size in shard:
            header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
            weight_map[name] = filename
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        with open(folder / filename, "wb") as out:
            out.write(len(raw).to_bytes(8, "little") + raw)
            for _name, _shape, size in shard:
                while size:
                    step = min(size, 64 * MiB)
                    out.write(rng.bytes(step))
                    size -= step
        total += offset
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    return sum(p.stat().st_size for p in folder.iterdir())


# --- memory -------------------------------------------------------------------------------------

def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class MemorySampler(threading.Thread):
    """Peak RSS per role (the largest process, and the role's processes together) every 0.2 s."""

    def __init__(self, var_dir: Path, extra: dict[str, int] | None = None) -> None:
        super().__init__(daemon=True)
        self.var_dir, self.extra = var_dir, extra or {}
        self.peak: dict[str, dict[str, float]] = {}
        self.stopping = threading.Event()

    def roles(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {role: [] for role in ROLES}
        for pid, cmdline in processes_of(self.var_dir).items():
            for role, marker in ROLES.items():
                if marker in f" {cmdline} ":
                    found[role].append(pid)
        for role, pid in self.extra.items():
            found[role] = [pid]
        return found

    def run(self) -> None:
        while not self.stopping.is_set():
            for role, pids in self.roles().items():
                rss = [_status_kib(pid, "VmRSS") / 1024 for pid in pids]
                entry = self.peak.setdefault(role, {"largest_process_mib": 0.0, "all_processes_mib": 0.0})
                entry["largest_process_mib"] = round(max([entry["largest_process_mib"], *rss]), 1)
                entry["all_processes_mib"] = round(max(entry["all_processes_mib"], sum(rss)), 1)
            self.stopping.wait(0.2)

    def stop(self) -> dict[str, dict[str, float]]:
        self.stopping.set()
        self.join()
        return self.peak


def resident(var_dir: Path) -> dict[str, float]:
    roles = MemorySampler(var_dir).roles()
    return {role: round(sum(_status_kib(p, "VmRSS") for p in pids) / 1024, 1) for role, pids in roles.items()}


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
