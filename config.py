"""Settings of courier-crm.

Every setting below has a default that runs the embedded setup (a SQLite file in the instance folder, jobs
run in-process) and can be overridden by an environment variable of the name given in its comment.
`core.app.create_app(overrides)` applies `overrides` last, so tests and the CLI can change anything.
"""

import os
from pathlib import Path

from flask_appbuilder.const import AUTH_DB


def _env(name: str, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


# Where the SQLite file and generated keys of the embedded default live. CRM_INSTANCE_PATH.
INSTANCE_PATH = str(Path(_env("CRM_INSTANCE_PATH", Path.cwd() / "instance")).resolve())

# Database URL (SQLAlchemy). PostgreSQL in production: postgresql+psycopg://user@host/db. CRM_DATABASE_URL.
SQLALCHEMY_DATABASE_URI = _env("CRM_DATABASE_URL", f"sqlite:///{INSTANCE_PATH}/crm.db")
SQLALCHEMY_TRACK_MODIFICATIONS = False
# A pre-ping costs a round trip on every request; without it, the first request on a connection the database
# dropped (restart, failover) fails once and SQLAlchemy then renews the whole pool. CRM_DB_PRE_PING=1 turns it on.
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": _env_bool("CRM_DB_PRE_PING", False), "pool_recycle": 1800}

# Redis for the job queue, the login rate limiter and caches. Unset = jobs run in-process after commit. REDIS_URL.
REDIS_URL = _env("REDIS_URL")

# Signs sessions and CSRF tokens. Must be set (and kept secret) in production. CRM_SECRET_KEY.
SECRET_KEY = _env("CRM_SECRET_KEY")

# Key for personal data encrypted at rest (Fernet, urlsafe base64 of 32 bytes); never stored in the database.
# CRM_ENCRYPTION_KEY. The embedded default generates one into the instance folder on first start.
CRM_ENCRYPTION_KEY = _env("CRM_ENCRYPTION_KEY")

# --- Sign-in and security ---------------------------------------------------------------------------
AUTH_TYPE = AUTH_DB
# Role names that see every franchise (HQ). CRM_HQ_ROLES, comma separated.
CRM_HQ_ROLES = [r.strip() for r in _env("CRM_HQ_ROLES", "Admin,HQ Admin").split(",") if r.strip()]
# Role given to users created by `crm create-admin`.
AUTH_ROLE_ADMIN = "Admin"
AUTH_ROLE_PUBLIC = "Public"
AUTH_USER_REGISTRATION = False
# Limit for wrong passwords on the login form and on /api/v1/security/login. CRM_LOGIN_RATE_LIMIT.
RATELIMIT_ENABLED = True
AUTH_RATE_LIMITED = True
AUTH_RATE_LIMIT = _env("CRM_LOGIN_RATE_LIMIT", "5 per minute")
# Where the limiter counts: Redis when REDIS_URL is set, else this process's memory. CRM_RATELIMIT_STORAGE_URI.
RATELIMIT_STORAGE_URI = _env("CRM_RATELIMIT_STORAGE_URI", REDIS_URL or "memory://")
RATELIMIT_HEADERS_ENABLED = True
# Cookies only over HTTPS; `crm demo` turns this off because it serves plain HTTP on 127.0.0.1.
# CRM_SESSION_COOKIE_SECURE.
SESSION_COOKIE_SECURE = _env_bool("CRM_SESSION_COOKIE_SECURE", True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
REMEMBER_COOKIE_HTTPONLY = True
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None
# Hosts the login redirect may go to (CVE-2025-32962). CRM_SAFE_REDIRECT_HOSTS, comma separated.
FAB_SAFE_REDIRECT_HOSTS = [h for h in _env("CRM_SAFE_REDIRECT_HOSTS", "").split(",") if h]
# Number of reverse proxies / load balancers in front of the app whose X-Forwarded-* headers to trust
# (0 = none). Without it, every client behind a balancer shares one login rate-limit bucket. CRM_PROXY_COUNT.
CRM_PROXY_COUNT = int(_env("CRM_PROXY_COUNT", "0"))
# JWT lifetime of the REST login, seconds. CRM_JWT_EXPIRES.
JWT_ACCESS_TOKEN_EXPIRES = int(_env("CRM_JWT_EXPIRES", "3600"))

# --- Admin shell -------------------------------------------------------------------------------------
APP_NAME = _env("CRM_APP_NAME", "Courier CRM")
APP_THEME = ""
# Chinese first, English selectable.
BABEL_DEFAULT_LOCALE = "zh"
# Our catalog, core/translations (relative to the app's root folder, core/); FAB puts its own in front and
# ours wins where both translate the same text. Update with scripts/translations.
BABEL_TRANSLATION_DIRECTORIES = "translations"
LANGUAGES = {"zh": {"flag": "cn", "name": "中文"}, "en": {"flag": "gb", "name": "English"}}
FAB_API_SWAGGER_UI = True
FAB_ADD_SECURITY_API = True
# Permissions are written by `crm init`, never at every start (several processes would race).
FAB_UPDATE_PERMS = False
FAB_CREATE_DB = False
FAB_API_MAX_PAGE_SIZE = 100
FAB_INDEX_VIEW = "core.views.dashboard.DashboardIndexView"
FAB_SECURITY_MANAGER_CLASS = "core.security.CrmSecurityManager"
# List screens count at most this many rows; past it the pager shows "N+" (a COUNT(*) over millions of rows
# on every page is what makes stock list screens slow). CRM_LIST_COUNT_CAP.
CRM_LIST_COUNT_CAP = int(_env("CRM_LIST_COUNT_CAP", "10000"))
# Largest page an HTML list may show (FAB does not cap ?psize_ itself).
CRM_LIST_MAX_PAGE_SIZE = 100
# Seconds a process keeps every role's permissions (one query instead of one per menu item); a change made
# in this process applies at once, other processes follow within this time. CRM_PERMISSION_CACHE_TTL.
CRM_PERMISSION_CACHE_TTL = float(_env("CRM_PERMISSION_CACHE_TTL", "5"))
# The network's local time zone: what staff type and read (the database stores UTC). CRM_TIMEZONE.
CRM_TIMEZONE = _env("CRM_TIMEZONE", "Asia/Shanghai")
# Largest Excel file an import accepts, bytes. CRM_IMPORT_MAX_BYTES.
CRM_IMPORT_MAX_BYTES = int(_env("CRM_IMPORT_MAX_BYTES", str(20 * 1024 * 1024)))
# Days uploads and problem reports of imports are kept (they hold personal data). CRM_IMPORT_KEEP_DAYS.
CRM_IMPORT_KEEP_DAYS = float(_env("CRM_IMPORT_KEEP_DAYS", "30"))
# Requests larger than this are refused before they are read (an upload a little over the import limit).
MAX_CONTENT_LENGTH = CRM_IMPORT_MAX_BYTES + 1024 * 1024

# --- Plugins -----------------------------------------------------------------------------------------
# Load third-party plugins from the entry-point group "crm.plugins". CRM_LOAD_ENTRYPOINTS.
CRM_LOAD_ENTRYPOINTS = _env_bool("CRM_LOAD_ENTRYPOINTS", True)
# Extra plugin modules to register (dotted paths), e.g. for local development. CRM_EXTRA_PLUGINS, comma separated.
CRM_EXTRA_PLUGINS = [p for p in _env("CRM_EXTRA_PLUGINS", "").split(",") if p]
# Seconds a process keeps where each plugin is active before reading it again (changes made in the same
# process apply at once). CRM_PLUGIN_ACTIVATION_TTL.
CRM_PLUGIN_ACTIVATION_TTL = float(_env("CRM_PLUGIN_ACTIVATION_TTL", "5"))
# Built-in plugins (under plugins/) that are not loaded at all. CRM_DISABLED_PLUGINS, comma separated.
CRM_DISABLED_PLUGINS = [p for p in _env("CRM_DISABLED_PLUGINS", "").split(",") if p]

# --- Jobs --------------------------------------------------------------------------------------------
# How often a failed job is retried, and (with Redis) the waits between tries in seconds; in-process jobs
# are retried by the next `crm cron` tick. CRM_JOB_RETRIES.
CRM_JOB_RETRIES = int(_env("CRM_JOB_RETRIES", "3"))
# CRM_JOB_RETRY_INTERVALS, comma separated seconds.
CRM_JOB_RETRY_INTERVALS = [int(s) for s in _env("CRM_JOB_RETRY_INTERVALS", "10,60,300").split(",")]
# Seconds a job may run before RQ stops it. CRM_JOB_TIMEOUT.
CRM_JOB_TIMEOUT = int(_env("CRM_JOB_TIMEOUT", "1800"))
# How often `crm cron` relays the outbox and looks for due schedules, seconds. CRM_CRON_TICK.
CRM_CRON_TICK = float(_env("CRM_CRON_TICK", "5"))
# Days finished jobs stay in the job list before `crm cron` removes them (failed ones stay). CRM_JOB_KEEP_DAYS.
CRM_JOB_KEEP_DAYS = float(_env("CRM_JOB_KEEP_DAYS", "14"))
# Prefix of RQ queue names, so several installations can share one Redis. CRM_QUEUE_PREFIX.
CRM_QUEUE_PREFIX = _env("CRM_QUEUE_PREFIX", "crm")

# --- Integrations plugin ---------------------------------------------------------------------------------
# Largest tracking push body accepted, bytes (a 10,000-event bulk push is about 2 MB). CRM_PUSH_MAX_BYTES.
CRM_PUSH_MAX_BYTES = int(_env("CRM_PUSH_MAX_BYTES", str(4 * 1024 * 1024)))
# Most events in one push of the generic signed JSON format (the bulk path). CRM_PUSH_MAX_EVENTS.
CRM_PUSH_MAX_EVENTS = int(_env("CRM_PUSH_MAX_EVENTS", "10000"))
# Seconds a web process keeps franchise codes and integration settings for the push path (a changed salt
# applies within this time). CRM_INTEGRATION_CACHE_TTL.
CRM_INTEGRATION_CACHE_TTL = float(_env("CRM_INTEGRATION_CACHE_TTL", "10"))
# Days received payloads and inbox events are kept. CRM_INBOX_KEEP_DAYS.
CRM_INBOX_KEEP_DAYS = float(_env("CRM_INBOX_KEEP_DAYS", "30"))
# Outbound webhooks: seconds to wait for the receiver (CRM_WEBHOOK_TIMEOUT), waits between tries in seconds
# (CRM_WEBHOOK_BACKOFF, comma separated; then the delivery is failed), and whether URLs may point at loopback or
# private addresses (CRM_WEBHOOK_ALLOW_PRIVATE; off in production: a webhook must not reach the intranet).
CRM_WEBHOOK_TIMEOUT = float(_env("CRM_WEBHOOK_TIMEOUT", "10"))
CRM_WEBHOOK_BACKOFF = [int(s) for s in _env("CRM_WEBHOOK_BACKOFF", "60,300,1800,7200,43200").split(",")]
CRM_WEBHOOK_ALLOW_PRIVATE = _env_bool("CRM_WEBHOOK_ALLOW_PRIVATE", False)
# Port of the local order-platform simulator `crm demo` starts (the demo shops pull from it).
# CRM_ORDER_SIMULATOR_PORT.
CRM_ORDER_SIMULATOR_PORT = int(_env("CRM_ORDER_SIMULATOR_PORT", "8790"))
CRM_ORDER_PAGE_SIZE = int(_env("CRM_ORDER_PAGE_SIZE", "100"))  # orders per page asked of a platform
# Tickets: the agents' queues count at most this many tickets ("1000+") (CRM_QUEUE_COUNT_CAP); seconds a process
# keeps a franchise's dispatch rules (CRM_TICKET_RULES_TTL; an edit in the same process applies at once).
CRM_QUEUE_COUNT_CAP = int(_env("CRM_QUEUE_COUNT_CAP", "1000"))
CRM_TICKET_RULES_TTL = float(_env("CRM_TICKET_RULES_TTL", "30"))
