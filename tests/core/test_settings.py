import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x" * 64 + "production-like-secret-0123456789",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "modelbay.example.com",
    "MODELBAY_MASTER_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # base64 of 32 bytes
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING",
                    env={**PRODUCTION_ENV, "MODELBAY_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MODELBAY_MASTER_KEY"])
def test_production_refuses_to_start_without_a_secret_or_service(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", env={**env, "MODELBAY_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert missing in result.stderr


def test_a_malformed_boolean_is_an_error_not_false(tmp_path):
    result = manage("check", env={"DJANGO_SETTINGS_MODULE": "config.settings.local", "DEBUG": "ture",
                                  "MODELBAY_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DEBUG" in result.stderr and "not a boolean" in result.stderr
