"""Django settings for the PIM, read from environment variables.

DEBUG is off unless the environment turns it on (DEBUG=1). Without DEBUG the project refuses to start
without its own SECRET_KEY and FIELD_ENCRYPTION_KEYS, and refuses the development keys committed here.
The demo (``manage.py demo``) and the tests (``config.settings_test``) turn on what they need themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# Fail any Shopify call or alert post made while a database transaction is open (channels/shopify/netguard.py):
# read before the transaction, send after commit. Off by default; the test settings turn it on.
NETWORK_IN_TRANSACTION_CHECK = env_bool("NETWORK_IN_TRANSACTION_CHECK", False)

# Committed development keys: usable only with DEBUG on, refused otherwise.
DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE="

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = DEV_SECRET_KEY
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is the committed development key; set your own when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "simple_history",
    "pim",
    "outbox",
    "channels",
    "webhooks",
    "inventory",
    "conflicts",
    "onboarding",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# PostgreSQL in tests and production; SQLite is the demo's embedded default.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'demo.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web process share the file: WAL lets readers run beside the writer, IMMEDIATE takes the
    # write lock at BEGIN (no deadlocked read-to-write upgrades), and writers wait instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=30,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Redis / RQ -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_DEFAULT_TIMEOUT = int(os.environ.get("RQ_DEFAULT_TIMEOUT", "300"))
RQ_QUEUE_NAMES = ("webhooks", "inventory", "default", "publish")
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": RQ_DEFAULT_TIMEOUT} for name in RQ_QUEUE_NAMES
}
# django-rq would also register its dashboard inside the admin (/admin/django_rq/), where any staff user could empty
# queues: off. The guarded dashboard is at /admin/rq/ (config/rq_urls.py), linked from the admin header.
RQ_SHOW_ADMIN_LINK = False
# Our services enqueue from transaction.on_commit themselves (and handle Redis being down there), so
# django-rq must enqueue at once instead of deferring again to a commit that may never come.
RQ = {"COMMIT_MODE": "auto"}

# --- Shopify ---------------------------------------------------------------------------------
SHOPIFY_API_VERSION = os.environ.get("SHOPIFY_API_VERSION", "2026-07")
# Where Shopify's own Admin GraphQL schemas live (validated against in tests and by the simulator).
SHOPIFY_SCHEMA_DIR = Path(
    os.environ.get("SHOPIFY_SCHEMA_DIR", BASE_DIR.parent / "shared" / "shopify" / "admin-graphql")
)
SHOPIFY_CONNECT_TIMEOUT = float(os.environ.get("SHOPIFY_CONNECT_TIMEOUT", "5"))
SHOPIFY_READ_TIMEOUT = float(os.environ.get("SHOPIFY_READ_TIMEOUT", "30"))
# This is the template for real Shopify: https://<name>.myshopify.com.
SHOPIFY_URL_TEMPLATE = "https://{shop}"
# A store's own API base URL (the local simulator) is honoured only when this is on; off, every store talks to
# https://<name>.myshopify.com and nothing else receives its token or client secret. The demo and tests set it.
SHOPIFY_ALLOW_BASE_URL_OVERRIDE = env_bool("SHOPIFY_ALLOW_BASE_URL_OVERRIDE", False)

# Keys for encrypting store credentials at rest (Fernet, urlsafe base64 32 bytes), newest first: the first
# encrypts, all decrypt (MultiFernet), so a key can be rotated (``manage.py rotate_credentials_key``).
# FIELD_ENCRYPTION_KEYS is a comma-separated list; FIELD_ENCRYPTION_KEY (one key) is still read. Required
# outside DEBUG.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS") or env_list("FIELD_ENCRYPTION_KEY")
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS (or FIELD_ENCRYPTION_KEY) must be set when DEBUG is off.")
    FIELD_ENCRYPTION_KEYS = [DEV_FIELD_ENCRYPTION_KEY]
if not DEBUG and DEV_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS holds the committed development key; set your own when DEBUG is off."
    )
FIELD_ENCRYPTION_KEY = FIELD_ENCRYPTION_KEYS[0]  # the newest key (what new values are encrypted with)

# --- Security (effective when DEBUG is off) -------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# --- Logging: everything to stdout --------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

# --- Sync pipeline ------------------------------------------------------------------------------------
# Bulk publish (issue 17): when more than BULK_PUBLISH_THRESHOLD first publishes are pending for one store, publish
# --all / the admin's publish send them as bulk mutations (productSet per JSONL line) instead of one call each.
BULK_PUBLISH_THRESHOLD = int(os.environ.get("BULK_PUBLISH_THRESHOLD", "300"))
# Largest variables file per bulk operation (Shopify's limit: 100 MB); a larger load is split into several.
BULK_PUBLISH_MAX_FILE_BYTES = int(os.environ.get("BULK_PUBLISH_MAX_FILE_BYTES", str(100 * 1024 * 1024)))
# Most products per bulk operation's file: one step writes and starts one file, so a step stays well inside its
# lease (a 100 MB file is ~45,000 products: minutes of one step on a loaded worker).
BULK_PUBLISH_MAX_LINES_PER_FILE = int(os.environ.get("BULK_PUBLISH_MAX_LINES_PER_FILE", "10000"))
# How often a running bulk publish polls its operations (an RQ job scheduled each time, never a sleeping worker).
BULK_PUBLISH_POLL_SECONDS = float(os.environ.get("BULK_PUBLISH_POLL_SECONDS", "10"))
# How long a bulk run owns its sync jobs (Shopify stops a bulk mutation after 24 hours) and one step's lease.
BULK_PUBLISH_LEASE_SECONDS = int(os.environ.get("BULK_PUBLISH_LEASE_SECONDS", str(26 * 3600)))
BULK_PUBLISH_STEP_LEASE_SECONDS = int(os.environ.get("BULK_PUBLISH_STEP_LEASE_SECONDS", "600"))
# How long a worker owns a running job; past it the sweeper gives the job back (worker killed mid-job).
SYNC_JOB_LEASE_SECONDS = int(os.environ.get("SYNC_JOB_LEASE_SECONDS", "120"))
# Retries of sync jobs, inventory pushes and webhook events: the delay after the n-th failure is the n-th entry of
# SYNC_RETRY_SCHEDULE (seconds; the last repeats), at most SYNC_RETRY_MAX_SECONDS, with jitter. With the default
# 9 attempts a job is retried for 4.3 to 8.6 hours (jitter) before it is dead-lettered, so a two-hour Shopify
# outage dead-letters nothing; a store that answers again gets its whole backlog at once, not at the next retry.
SYNC_RETRY_SCHEDULE = [float(v) for v in env_list("SYNC_RETRY_SCHEDULE", "1,5,30,60,300,1800,7200,21600")]
SYNC_JOB_MAX_ATTEMPTS = int(os.environ.get("SYNC_JOB_MAX_ATTEMPTS", "9"))
SYNC_RETRY_MAX_SECONDS = float(os.environ.get("SYNC_RETRY_MAX_SECONDS", "21600"))
# A dispatched job that has not started after this long is dispatched again (lost RQ job, Redis flushed).
SYNC_REDISPATCH_AFTER_SECONDS = int(os.environ.get("SYNC_REDISPATCH_AFTER_SECONDS", "30"))
# The outbox's drain (one RQ job per lane runs waiting rows one after the other): how long one drain job runs
# before handing over to a fresh one, and how long the "a drain is waiting" flag in Redis lives at most.
OUTBOX_DRAIN_SECONDS = float(os.environ.get("OUTBOX_DRAIN_SECONDS", "2"))
OUTBOX_DRAIN_FLAG_SECONDS = int(os.environ.get("OUTBOX_DRAIN_FLAG_SECONDS", "60"))
# A drain of a lower lane (RQ_QUEUE_NAMES order) ends early when a higher lane has a job waiting (issue 15).
OUTBOX_LANE_YIELD = os.environ.get("OUTBOX_LANE_YIELD", "1").lower() not in ("0", "false", "no", "")
# Issue 15: a publish drain claims up to this many due sync jobs at once and runs them together (shared reads, one
# handle look-up per store, their metafields in shared metafieldsSet calls of up to 25). 1 = one job at a time.
PUBLISH_BATCH_SIZE = int(os.environ.get("PUBLISH_BATCH_SIZE", "25"))
# A publish batch's product write waits at most this long for the store's cost budget; when the wait would be longer
# the batch gives its unwritten jobs back unrun, due when the budget has refilled, and the worker is free for other
# lanes meanwhile (issue 15). 0 = never wait for the budget before a product write.
PUBLISH_BUDGET_WAIT_SECONDS = float(os.environ.get("PUBLISH_BUDGET_WAIT_SECONDS", "1"))
# A publish preview (manage.py publish --dry-run, the admin's Preview changes) reads each product live from Shopify up to
# this many products; above it the preview compares with the snapshot of what the PIM last wrote (no API cost).
PUBLISH_PREVIEW_LIVE_READ_MAX = int(os.environ.get("PUBLISH_PREVIEW_LIVE_READ_MAX", "200"))
# Circuit breaker per store: open after this many consecutive server/network failures.
SYNC_CIRCUIT_THRESHOLD = int(os.environ.get("SYNC_CIRCUIT_THRESHOLD", "3"))
SYNC_CIRCUIT_MAX_OPEN_SECONDS = int(os.environ.get("SYNC_CIRCUIT_MAX_OPEN_SECONDS", "60"))
# Inventory pushes (an outbox kind: inventory/push_runs.py) and the webhook inbox (webhooks/inbox.py).
INVENTORY_PUSH_MAX_ATTEMPTS = int(os.environ.get("INVENTORY_PUSH_MAX_ATTEMPTS", "10"))  # then dead-lettered
INVENTORY_LEASE_SECONDS = int(os.environ.get("INVENTORY_LEASE_SECONDS", "120"))  # a running push's level lease
# Issue 15's order lane: an inventory drain claims up to this many due pushes at once and runs them side by side,
# each on its own database connection (one sale's pushes to nine stores in parallel; each store's cost budget in
# Redis still paces its calls). 1 = one push at a time.
INVENTORY_PUSH_PARALLEL = int(os.environ.get("INVENTORY_PUSH_PARALLEL", "10"))
# A full inventory sync's sets run as outbox rows on the ``default`` lane, this many levels per batch (one read and
# one inventorySetQuantities each); a worker yields to the order lane between batches.
INVENTORY_SYNC_BATCH_SIZE = int(os.environ.get("INVENTORY_SYNC_BATCH_SIZE", "10"))
# After a merchant edit (inventory_levels/update) the PIM compares after this delay, and waits at most
# INVENTORY_CHECK_MAX_WAIT_SECONDS for in-flight pushes and order webhooks of the shop to settle first; a level
# Shopify changed less than INVENTORY_CHECK_DELAY_SECONDS before the read (its order webhook may still be on its
# way) is compared again later. Concluding with order webhooks of the shop unprocessed holds the drift for review.
# An absolute set that would raise such a level (or with order webhooks of the shop unprocessed) waits the same
# way, at most INVENTORY_CHECK_MAX_WAIT_SECONDS since it was queued: it must not put a sale in flight back.
INVENTORY_CHECK_DELAY_SECONDS = float(os.environ.get("INVENTORY_CHECK_DELAY_SECONDS", "10"))
INVENTORY_CHECK_MAX_WAIT_SECONDS = float(os.environ.get("INVENTORY_CHECK_MAX_WAIT_SECONDS", "120"))
WEBHOOK_LEASE_SECONDS = int(os.environ.get("WEBHOOK_LEASE_SECONDS", "120"))  # a processing webhook event's lease
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))  # then kept as failed for review
# Onboarding (onboarding/services.py): how often a reconcile polls Shopify's bulk export.
ONBOARDING_BULK_POLL_SECONDS = float(os.environ.get("ONBOARDING_BULK_POLL_SECONDS", "1.0"))

# --- Conflicts ------------------------------------------------------------------------------------
CONFLICT_RETENTION_DAYS = int(os.environ.get("CONFLICT_RETENTION_DAYS", "90"))
if CONFLICT_RETENTION_DAYS < 30:
    raise ImproperlyConfigured("CONFLICT_RETENTION_DAYS must be at least 30.")
# Webhook inbox retention (purge_webhook_events): processed and ignored deliveries older than this are deleted;
# failed ones are kept for review. At least 2 days, past Shopify's 4-hour retry window: stock stays exactly-once
# after a purge anyway, because every movement carries a unique source reference.
# Processing a stored webhook event: its lease, and how many tries before it is kept as failed for review.
WEBHOOK_LEASE_SECONDS = int(os.environ.get("WEBHOOK_LEASE_SECONDS", "120"))
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
WEBHOOK_EVENT_RETENTION_DAYS = int(os.environ.get("WEBHOOK_EVENT_RETENTION_DAYS", "30"))
if WEBHOOK_EVENT_RETENTION_DAYS < 2:
    raise ImproperlyConfigured("WEBHOOK_EVENT_RETENTION_DAYS must be at least 2.")
# The nightly drift sweep is queued by the sweeper at or after this hour (UTC), once a day.
DRIFT_SWEEP_HOUR = int(os.environ.get("DRIFT_SWEEP_HOUR", "2"))
DRIFT_ALERT_THRESHOLD = int(os.environ.get("DRIFT_ALERT_THRESHOLD", "25"))
DRIFT_ALERT_WINDOW_HOURS = int(os.environ.get("DRIFT_ALERT_WINDOW_HOURS", "24"))
DRIFT_ALERT_EMAILS = env_list("DRIFT_ALERT_EMAILS")
DRIFT_ALERT_WEBHOOK_URL = os.environ.get("DRIFT_ALERT_WEBHOOK_URL", "")
# Operator alerts (channels/alerts.py): one per condition, per store, per window; each channel optional.
ALERT_EMAILS = env_list("ALERT_EMAILS", os.environ.get("DRIFT_ALERT_EMAILS", ""))
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "")  # Slack-compatible incoming webhook
ALERT_WINDOW_HOURS = float(os.environ.get("ALERT_WINDOW_HOURS", "6"))
ALERT_CHECK_SECONDS = int(os.environ.get("ALERT_CHECK_SECONDS", "60"))  # how often the sweeper evaluates them
ALERT_LATENCY_P95_SECONDS = int(os.environ.get("ALERT_LATENCY_P95_SECONDS", "300"))
ALERT_LATENCY_MINUTES = int(os.environ.get("ALERT_LATENCY_MINUTES", "15"))
ALERT_LATENCY_MIN_JOBS = int(os.environ.get("ALERT_LATENCY_MIN_JOBS", "5"))
# Webhook subscription health (inventory/subscriptions.py): the public address of /shopify/webhooks/ that every
# store's subscriptions must point to (else the address last given to register_webhooks), and how often the
# sweeper checks and repairs them.
SHOPIFY_WEBHOOK_URL = os.environ.get("SHOPIFY_WEBHOOK_URL", "")
WEBHOOK_SUBSCRIPTION_CHECK_SECONDS = int(os.environ.get("WEBHOOK_SUBSCRIPTION_CHECK_SECONDS", "3600"))
# Scheduled inventory reconciliation (inventory/reconciliation.py; per store, off by default). A difference larger
# than RECONCILIATION_HOLD_UNITS units or RECONCILIATION_HOLD_PERCENT percent of the PIM quantity (0 turns either
# rule off) is held for review instead of corrected. A level Shopify changed less than RECONCILIATION_SETTLE_SECONDS
# ago is left for the next run (the webhook of that change may still be on its way). A run that fails on a
# retryable Shopify error is retried on SYNC_RETRY_SCHEDULE up to RECONCILIATION_MAX_ATTEMPTS attempts.
RECONCILIATION_HOLD_UNITS = int(os.environ.get("RECONCILIATION_HOLD_UNITS", "10"))
RECONCILIATION_HOLD_PERCENT = float(os.environ.get("RECONCILIATION_HOLD_PERCENT", "0"))
RECONCILIATION_SETTLE_SECONDS = int(os.environ.get("RECONCILIATION_SETTLE_SECONDS", "300"))
RECONCILIATION_MAX_ATTEMPTS = int(os.environ.get("RECONCILIATION_MAX_ATTEMPTS", "4"))
# Gap replay (inventory/catchup.py). The order watermark ("complete until") trails now by this margin (deliveries
# in flight); a sweeper silent for longer than ORDER_GAP_AFTER_SECONDS means a gap; a replay from the watermark
# also runs every ORDER_CATCHUP_VERIFY_SECONDS (0 = only after a gap) to catch deliveries that failed silently.
ORDER_WATERMARK_MARGIN_SECONDS = int(os.environ.get("ORDER_WATERMARK_MARGIN_SECONDS", "300"))
ORDER_GAP_AFTER_SECONDS = int(os.environ.get("ORDER_GAP_AFTER_SECONDS", "900"))
ORDER_CATCHUP_VERIFY_SECONDS = int(os.environ.get("ORDER_CATCHUP_VERIFY_SECONDS", "3600"))
ORDER_CATCHUP_LEASE_SECONDS = int(os.environ.get("ORDER_CATCHUP_LEASE_SECONDS", "900"))
# A replay of this many orders or more reads them with one bulk operation (orders it cannot hold: one by one).
ORDER_CATCHUP_BULK_MIN_ORDERS = int(os.environ.get("ORDER_CATCHUP_BULK_MIN_ORDERS", "250"))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "pim@localhost")

# --- Inbound webhooks ---------------------------------------------------------------------------------
# A delivery whose X-Shopify-Triggered-At is older than this is refused (replayed or hopelessly late).
# Shopify retries a failed delivery 8 times over 4 hours, so the window may not be shorter than that.
WEBHOOK_MAX_AGE_SECONDS = int(os.environ.get("WEBHOOK_MAX_AGE_SECONDS", str(24 * 3600)))
if WEBHOOK_MAX_AGE_SECONDS < 4 * 3600 + 300:
    raise ImproperlyConfigured("WEBHOOK_MAX_AGE_SECONDS must cover Shopify's 4-hour retry schedule (>= 14700).")
# Clock skew tolerated for a Triggered-At in the future.
WEBHOOK_MAX_CLOCK_SKEW_SECONDS = int(os.environ.get("WEBHOOK_MAX_CLOCK_SKEW_SECONDS", "300"))
# Largest body the endpoint reads (bytes); a larger delivery gets 413 before it is read.
WEBHOOK_MAX_BODY_BYTES = int(os.environ.get("WEBHOOK_MAX_BODY_BYTES", str(10 * 1024 * 1024)))
# Group commit of the endpoint (webhooks/intake.py): at most this many deliveries (and shop look-ups) share one
# statement and commit in a worker process; 0 stores each delivery in its own request thread.
WEBHOOK_INTAKE_BATCH_SIZE = int(os.environ.get("WEBHOOK_INTAKE_BATCH_SIZE", "64"))
if WEBHOOK_INTAKE_BATCH_SIZE < 0:
    raise ImproperlyConfigured("WEBHOOK_INTAKE_BATCH_SIZE must be 0 (off) or more.")
