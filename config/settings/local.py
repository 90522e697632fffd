"""The embedded default: SQLite, embedded Redis, local disk. A secret key is made once."""

import base64
import secrets

from .base import *  # noqa: F403
from .base import VAR_DIR

# DEBUG stays off unless asked for (DEBUG=true): `make run` may listen beyond loopback, and a
# debug page shows settings and code. whitenoise serves /static/ from what collectstatic gathered.

if not SECRET_KEY:  # noqa: F405
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

if not MODELBAY_MASTER_KEY:  # noqa: F405
    _master_file = VAR_DIR / "master_key"
    if not _master_file.exists():
        _master_file.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        _master_file.chmod(0o600)
    MODELBAY_MASTER_KEY = _master_file.read_text().strip()
