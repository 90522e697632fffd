"""`modelbay login`, `models`, `predict` and `usage` against a live server and a real inference
worker: what a user types, the exit codes of each failure class, and the server's error codes."""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

from billing.models import UsageEvent
from tests.cli.cli import MODELBAY, cli_env, modelbay
from tests.factories import tiny_onnx
from tests.inference.serving import expected, subscribe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_console_script_is_installed_with_the_project():
    assert MODELBAY.is_file(), "run `make install`: pyproject.toml's [project.scripts] puts it in .venv/bin"


def test_login_checks_the_key_then_stores_it_readable_by_the_owner_only(vendor, live_server, tmp_path):
    env = cli_env(tmp_path, live_server.url)
    done = modelbay("login", "--key", vendor.secret, env=env)
    assert done.returncode == 0, done.stderr
    config = tmp_path / ".config" / "modelbay" / "config.toml"
    assert f"key stored in {config}" in done.stdout and "vendor-co" in done.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert vendor.secret in config.read_text() and live_server.url in config.read_text()

    # The stored key and URL are used when neither flag nor environment gives one.
    env.pop("MODELBAY_URL")
    mine = modelbay("models", "--mine", env=env)
    assert mine.returncode == 0, mine.stderr
    assert "No models." in mine.stdout


def test_a_key_read_from_standard_input_is_stored_too(vendor, live_server, tmp_path):
    done = modelbay("login", env=cli_env(tmp_path, live_server.url), stdin=vendor.secret + "\n")
    assert done.returncode == 0, done.stderr
    assert vendor.secret in (tmp_path / ".config" / "modelbay" / "config.toml").read_text()


def test_a_bad_key_is_refused_with_the_servers_message_and_exit_3(vendor, live_server, tmp_path):
    bogus = "mb_live_" + "x" * 49
    env = cli_env(tmp_path, live_server.url)
    login = modelbay("login", "--key", bogus, env=env)
    assert login.returncode == 3
    assert "HTTP 401" in login.stderr and "modelbay login" in login.stderr
    assert not (tmp_path / ".config" / "modelbay" / "config.toml").exists()  # nothing stored

    (tmp_path / "model.onnx").write_bytes(tiny_onnx())
    pushed = modelbay("push", "vendor-co/tiny", str(tmp_path / "model.onnx"), "--version", "1.0.0",
                      env={**env, "MODELBAY_API_KEY": bogus})
    assert pushed.returncode == 3 and "authentication_failed" in pushed.stderr, pushed.stderr
    nokey = modelbay("usage", env=env)
    assert nokey.returncode == 3 and "No API key" in nokey.stderr


def test_models_predict_and_usage_as_a_buyer(buyer, tiny, infer_worker, live_server, tmp_path):
    subscribe(buyer, tiny, "payg")
    env = cli_env(tmp_path, live_server.url, buyer.secret)
    catalog = modelbay("models", env=env)
    assert catalog.returncode == 0, catalog.stderr
    assert "vendor-co/tiny" in catalog.stdout

    x = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.25, 2.0]])  # float64: cast to the declared FP32
    np.save(tmp_path / "x.npy", x)
    done = modelbay("predict", "vendor-co/tiny", "--input", f"x=@{tmp_path / 'x.npy'}", "--json",
                    "--save", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    [y] = answer["outputs"]
    assert y["name"] == "y" and y["shape"] == [2, 2]
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"), expected(x), rtol=1e-6)
    assert "Billed: 8 unit(s)" in done.stderr
    literal = modelbay("predict", "vendor-co.tiny", "--input", "x=[[1, 2, 3, 4]]", env=env)
    assert literal.returncode == 0 and "y FP32 [1x2]" in literal.stdout, literal.stderr
    assert UsageEvent.objects.filter(organization=buyer.organization).count() == 2

    usage = modelbay("usage", env=env)
    assert usage.returncode == 0, usage.stderr
    row = next(line for line in usage.stdout.splitlines() if "vendor-co.tiny" in line)
    assert row.split()[2] == "2"  # calls


def test_failures_exit_with_their_class_and_print_the_servers_error(buyer, outsider, tiny, infer_worker, live_server,
                                                                     tmp_path):
    subscribe(buyer, tiny, "payg")
    env = cli_env(tmp_path, live_server.url, buyer.secret)
    missing = modelbay("predict", "vendor-co/nope", "--input", "x=[[1, 2, 3, 4]]", env=env)
    assert missing.returncode == 4 and "HTTP 404" in missing.stderr, missing.stderr
    wrong = modelbay("predict", "vendor-co/tiny", "--input", "x=[[1, 2, 3]]", env=env)
    assert wrong.returncode == 5 and "HTTP 400" in wrong.stderr and "x" in wrong.stderr, wrong.stderr
    unreadable = modelbay("predict", "vendor-co/tiny", "--input", f"x=@{tmp_path / 'none.npy'}", env=env)
    assert unreadable.returncode == 5 and "cannot read" in unreadable.stderr
    not_subscribed = modelbay("predict", "vendor-co/tiny", "--input", "x=[[1, 2, 3, 4]]",
                              env={**env, "MODELBAY_API_KEY": outsider.secret})
    assert not_subscribed.returncode in (3, 8), not_subscribed.stderr  # 403 or 402: it says how to subscribe
    assert not UsageEvent.objects.exists()
    down = modelbay("usage", env={**env, "MODELBAY_URL": "http://127.0.0.1:9"})
    assert down.returncode == 6 and "Cannot reach" in down.stderr
