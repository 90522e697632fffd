"""Test settings: PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set, else SQLite + an
embedded Redis that tests/conftest.py starts. Worker processes started by tests import these
settings too and find the same database and Redis through the environment."""

import os
import uuid

# One id per test run, inherited by worker subprocesses, keeps concurrent runs apart.
RUN_ID = os.environ.setdefault("MODELBAY_TEST_RUN_ID", uuid.uuid4().hex[:8])
os.environ.setdefault("MODELBAY_VAR_DIR", f"/tmp/modelbay-test-{RUN_ID}")

from .base import *  # noqa: E402, F403
from .base import DATABASES, VAR_DIR  # noqa: E402

SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = VAR_DIR / "media"
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 330

_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a worker process sees what a test committed.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    _db["TEST"] = {"NAME": f"test_modelbay_{RUN_ID}"}
    _db["CONN_MAX_AGE"] = 0
if os.environ.get("MODELBAY_WORKER_USES_TEST_DB") == "1":
    _db["NAME"] = _db["TEST"]["NAME"]

if not MODELBAY_MASTER_KEY:  # noqa: F405 - one per run, shared with worker processes via VAR_DIR
    import base64 as _b64
    import secrets as _secrets

    _master_file = VAR_DIR / "master_key"
    if not _master_file.exists():
        _master_file.write_text(_b64.b64encode(_secrets.token_bytes(32)).decode())
        _master_file.chmod(0o600)
    MODELBAY_MASTER_KEY = _master_file.read_text().strip()
