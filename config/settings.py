"""Settings, all from the environment.

With nothing set, the system runs embedded: SQLite under var/ and kombu's filesystem broker, so
`make run` needs no server. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
"""

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("COLLECTIONS_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Off unless asked for (DJANGO_DEBUG=1 in development): the debug pages list every URL and setting.
DEBUG = env_bool("DJANGO_DEBUG", False)


def _stored_secret_key(path):
    """The key made on this machine's first start and kept under var/ (0600), so sessions survive a
    restart without a fixed key in the code. Several servers behind one site set DJANGO_SECRET_KEY."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    from django.core.management.utils import get_random_secret_key

    key = get_random_secret_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (worker, beat) made it first: use theirs
        return path.read_text().strip() or key
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or _stored_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS ----------------------------------------------------------------------------------
# Off by default so a plain-HTTP demo can log in; on for every real deployment (docs/deployment.md).
COLLECTIONS_HTTPS = env_bool("COLLECTIONS_HTTPS", False)
# Behind a proxy that terminates TLS and sets X-Forwarded-Proto (and strips it from clients).
COLLECTIONS_TRUST_X_FORWARDED_PROTO = env_bool("COLLECTIONS_TRUST_X_FORWARDED_PROTO", False)
if COLLECTIONS_TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = COLLECTIONS_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's plain-HTTP health probe
SESSION_COOKIE_SECURE = COLLECTIONS_HTTPS
CSRF_COOKIE_SECURE = COLLECTIONS_HTTPS
SECURE_HSTS_SECONDS = env_int("COLLECTIONS_HSTS_SECONDS", 31536000) if COLLECTIONS_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("COLLECTIONS_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("COLLECTIONS_HSTS_PRELOAD", True)
# Without COLLECTIONS_HTTPS, `check --deploy` keeps warning: a deployment should turn it on. With it,
# an operator who turns a part of HSTS off on purpose has answered the check that warns about it.
SILENCED_SYSTEM_CHECKS = []
if COLLECTIONS_HTTPS:
    SILENCED_SYSTEM_CHECKS += [
        check
        for check, chosen_off in (
            ("security.W004", not SECURE_HSTS_SECONDS),
            ("security.W005", SECURE_HSTS_SECONDS and not SECURE_HSTS_INCLUDE_SUBDOMAINS),
            ("security.W021", SECURE_HSTS_SECONDS and not SECURE_HSTS_PRELOAD),
        )
        if chosen_off
    ]

INSTALLED_APPS = [
    "collections_app.admin_site.CollectionsAdminConfig",  # django.contrib.admin, operators only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "collections_app",
]

# Operators (the `admin` group) view, add and change every model of the apps they operate.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "collections_app.auth_backends.OperatorsPermissionBackend",
]

MIDDLEWARE = [
    "collections_app.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "collections_app.web.context.navigation",
            ],
        },
    },
    {
        # Row fragments of long lists, rendered by their views (collections_app/web/jinja.py).
        "NAME": "rows",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "collections_app.web.jinja.environment"},
    },
]

FORM_RENDERER = "collections_app.web.form_rendering.FormRenderer"  # Jinja2 for Django's widgets (faster)

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    # Several processes (web, worker, beat) share the file: WAL plus IMMEDIATE transactions
    # serialise writers instead of failing with "database is locked".
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "collections.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DATABASES["default"].setdefault("TEST", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
# The cache is an optimisation (collections_app/shared_cache.py): with Redis unreachable, requests
# fall back to the database. A connection that hangs gives up after this many seconds, and an outage
# is not asked about again for COLLECTIONS_CACHE_RETRY_SECONDS.
COLLECTIONS_CACHE_TIMEOUT_SECONDS = env_int("COLLECTIONS_CACHE_TIMEOUT_SECONDS", 2)
COLLECTIONS_CACHE_RETRY_SECONDS = env_int("COLLECTIONS_CACHE_RETRY_SECONDS", 5)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": COLLECTIONS_CACHE_TIMEOUT_SECONDS,
                "socket_timeout": COLLECTIONS_CACHE_TIMEOUT_SECONDS,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Celery closes the DB connection after each task unless told it may reuse it (PITFALLS.md).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
# A worker child whose memory grew past this (after a large import, say) is replaced once its task
# ends, so one big job does not leave the worker holding its peak for good (0: never).
COLLECTIONS_WORKER_MAX_MEMORY_MB = env_int("COLLECTIONS_WORKER_MAX_MEMORY_MB", 400)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = COLLECTIONS_WORKER_MAX_MEMORY_MB * 1024 or None  # KiB

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Language and time ----------------------------------------------------------------------
LANGUAGE_CODE = env_str("DJANGO_LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "collections_app" / "locale"]
USE_I18N = True
# One date format per language on every page, and thousands separators in both (config/formats/).
FORMAT_MODULE_PATH = ["config.formats"]
USE_TZ = True
TIME_ZONE = env_str("COLLECTIONS_TIME_ZONE", "Asia/Shanghai")
try:
    # The lender's calendar: due dates and days past due are counted in it.
    LENDER_TIME_ZONE = ZoneInfo(TIME_ZONE)
except ZoneInfoNotFoundError:
    raise ImproperlyConfigured(f"COLLECTIONS_TIME_ZONE={TIME_ZONE!r} is not an IANA time zone") from None
COLLECTIONS_CURRENCY = env_str("COLLECTIONS_CURRENCY", "CNY")
# A resolved case comes back (reopen) when it falls overdue again within this many days.
COLLECTIONS_REOPEN_WINDOW_DAYS = env_int("COLLECTIONS_REOPEN_WINDOW_DAYS", 30)
# Seconds a process keeps a token's API client (0: look it up on every request). A change of a client
# is seen at once where the cache is shared (Redis); see collections_app/api/common/auth.py.
COLLECTIONS_API_TOKEN_CACHE_SECONDS = env_int("COLLECTIONS_API_TOKEN_CACHE_SECONDS", 30)
# Seconds the dashboard's figures are kept in the cache (0: computed on every view); beat recomputes
# the current month's more often than this, so the page never waits for the aggregates.
COLLECTIONS_DASHBOARD_CACHE_SECONDS = env_int("COLLECTIONS_DASHBOARD_CACHE_SECONDS", 600)
# Webhook receivers on this machine or at link-local addresses (cloud metadata) are refused unless
# this is set (a receiver next to the app in development, the tests' receiver on 127.0.0.1).
COLLECTIONS_WEBHOOK_ALLOW_LOCAL = env_bool("COLLECTIONS_WEBHOOK_ALLOW_LOCAL", False)
# Seconds a webhook receiver has to answer a delivery (the whole exchange). Each subscription is sent
# by its own lane task, so a receiver that hangs costs its own lane this long, nobody else's.
COLLECTIONS_WEBHOOK_TIMEOUT = env_int("COLLECTIONS_WEBHOOK_TIMEOUT", 5)
# Seconds a worker holds a claimed sweep chunk; a chunk whose worker died is handed to another by
# beat's `sweep_requeue_task` (every minute) once this lease has expired. Longer than a chunk takes.
COLLECTIONS_SWEEP_LEASE_SECONDS = env_int("COLLECTIONS_SWEEP_LEASE_SECONDS", 600)

# --- Files: uploads to import and exports to download (web and worker must share this directory) --
COLLECTIONS_FILES_DIR = Path(env_str("COLLECTIONS_FILES_DIR", str(VAR_DIR / "files"))).resolve()
COLLECTIONS_IMPORT_MAX_UPLOAD_MB = env_int("COLLECTIONS_IMPORT_MAX_UPLOAD_MB", 512)
# An XLSX is refused before parsing when its zip directory says it unpacks to more than this many MB,
# or its first sheet's dimension spans more than this many cells (a zip bomb: small upload, huge XML).
COLLECTIONS_IMPORT_MAX_XLSX_UNPACKED_MB = env_int("COLLECTIONS_IMPORT_MAX_XLSX_UNPACKED_MB", 256)
COLLECTIONS_IMPORT_MAX_XLSX_CELLS = env_int("COLLECTIONS_IMPORT_MAX_XLSX_CELLS", 10_000_000)
# Days an import's report or an export's file is kept (with its job) before beat deletes them.
COLLECTIONS_FILES_RETENTION_DAYS = env_int("COLLECTIONS_FILES_RETENTION_DAYS", 30)
# Seconds an import or export job may stay queued before beat's `file_jobs_requeue_task` (every few
# minutes) sends its task again: its message was lost (the broker was down when the job committed).
COLLECTIONS_FILE_JOB_REQUEUE_SECONDS = env_int("COLLECTIONS_FILE_JOB_REQUEUE_SECONDS", 300)
# Past this many loans touched by an instalments import, their cases follow through today's sweep
# (set-based, full amount refresh) rather than loan by loan (services/files/imports/run.py).
COLLECTIONS_IMPORT_SWEEP_THRESHOLD = env_int("COLLECTIONS_IMPORT_SWEEP_THRESHOLD", 5000)

# --- Messages (reminder outbox) -------------------------------------------------------------
COLLECTIONS_CONTACT_POLICY = env_str("COLLECTIONS_CONTACT_POLICY", "china")
if COLLECTIONS_CONTACT_POLICY not in ("china", "us"):
    raise ImproperlyConfigured(f"COLLECTIONS_CONTACT_POLICY={COLLECTIONS_CONTACT_POLICY!r}: use china or us")
COLLECTIONS_LENDER_NAME = env_str("COLLECTIONS_LENDER_NAME", "示例消费金融")
COLLECTIONS_SMS_BACKEND = env_str("COLLECTIONS_SMS_BACKEND", "collections_app.gateways.ConsoleSmsBackend")
COLLECTIONS_SMS_FILE = VAR_DIR / "sms.jsonl"
# The console and file backends note each key they sent here and skip keys already sent, so a
# message requeued after a worker died is not shown twice (empty: no ledger).
COLLECTIONS_SMS_LEDGER = env_str("COLLECTIONS_SMS_LEDGER", str(VAR_DIR / "sms-ledger.txt"))
COLLECTIONS_SMS_GATEWAY_URL = env_str("COLLECTIONS_SMS_GATEWAY_URL", "")
COLLECTIONS_SMS_GATEWAY_KEY = env_str("COLLECTIONS_SMS_GATEWAY_KEY", "")
COLLECTIONS_SMS_GATEWAY_TIMEOUT = env_int("COLLECTIONS_SMS_GATEWAY_TIMEOUT", 10)
# Shared secret per SMS backend for delivery receipts at /hooks/sms/<backend>/.
COLLECTIONS_SMS_RECEIPT_SECRETS = {"http": env_str("COLLECTIONS_SMS_RECEIPT_SECRET", "")}
COLLECTIONS_MESSAGE_MAX_ATTEMPTS = env_int("COLLECTIONS_MESSAGE_MAX_ATTEMPTS", 5)
COLLECTIONS_DISPATCH_BATCH = env_int("COLLECTIONS_DISPATCH_BATCH", 500)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "collections@example.com")

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # With DEBUG off, `collectstatic` (config/run_embedded.sh, docs/deployment.md) writes hashed,
    # compressed files to STATIC_ROOT and whitenoise serves them with far-future caching.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "collections_app.api.common.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["collections_app.api.common.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "collections_app.api.common.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["collections_app.api.common.throttling.ClientRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Collections API",
    "DESCRIPTION": "Case status for clients, payments in, webhooks out. Errors: {code, detail, fields}.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # One name per choice set, the same wherever it is used (`manage.py spectacular --validate
    # --fail-on-warn` is clean).
    "ENUM_NAME_OVERRIDES": {
        "CaseStateEnum": "collections_app.workflow.State",
        "ContactChannelEnum": "collections_app.models.ContactAttempt.Channel",
        "MessageChannelEnum": "collections_app.models.ReminderStep.Channel",
        "PlanKindEnum": "collections_app.models.PlanKind",
        "PlanStatusEnum": "collections_app.models.PlanStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
