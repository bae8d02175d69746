"""Settings read from the environment; one place so every entry point agrees."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("INSTANCE_DIR", ROOT / "instance"))


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ConfigError(f"{name} must be a whole number ≥ 0, not {value!r}.")
    return int(value)


def _dev_secret_key(instance: Path) -> str:
    """A per-checkout secret kept in instance/, so dev sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two workers starting together must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config dict from the environment plus explicit overrides."""
    overrides = dict(overrides or {})
    env = overrides.get("ENV") or os.environ.get("TECHFIN_ENV", "development")
    instance = Path(overrides.get("INSTANCE_DIR") or INSTANCE)
    production = env == "production"
    debug = _bool("FLASK_DEBUG", False)

    secret = overrides.get("SECRET_KEY") or os.environ.get("SECRET_KEY")
    if production:
        if not secret:
            raise ConfigError("SECRET_KEY must be set in production (TECHFIN_ENV=production).")
        if debug or overrides.get("DEBUG"):
            raise ConfigError("DEBUG must be off in production (TECHFIN_ENV=production).")
    elif not secret:
        secret = _dev_secret_key(instance)

    database_url = overrides.get("DATABASE_URL") or os.environ.get(
        "DATABASE_URL", f"sqlite:///{instance / 'techfin.db'}"
    )
    redis_url = overrides.get("REDIS_URL", os.environ.get("REDIS_URL", ""))
    config: dict[str, Any] = {
        "ENV_NAME": env,
        "PRODUCTION": production,
        "DEBUG": debug,
        "SECRET_KEY": secret,
        "INSTANCE_DIR": str(instance),
        "DATABASE_URL": database_url,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "INDEX_DIR": os.environ.get("INDEX_DIR", str(instance / "index")),
        "MODEL_DIR": os.environ.get("MODEL_DIR", str(instance / "model")),
        "SMTP_HOST": os.environ.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_SECURITY": os.environ.get("SMTP_SECURITY", "none"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "techfin <noreply@techfin.local>"),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Namespaces the keys in a Redis shared with other apps or test runs; if Redis
        # becomes unreachable each worker counts in memory instead of failing every login.
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "techfin"),
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": ["zh_CN", "en"],
        "BOOTSTRAP_SERVE_LOCAL": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "PASSWORD_RESET_MAX_AGE": 3600,
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # Documents (services/documents.py): the upload routes alone raise the request limit
        # to this plus the multipart framing; the zip limits bound an XLSX's directory.
        "DOCUMENT_MAX_BYTES": max(1, _int_env("DOCUMENT_MAX_BYTES", 20 * 1024 * 1024)),
        "DOCUMENT_ZIP_MAX_ENTRIES": 5000,
        "DOCUMENT_ZIP_MAX_UNCOMPRESSED": 256 * 1024 * 1024,
        # Uploads of spreadsheets (services/uploads.py): size cap, what an XLSX may expand
        # to, the rows and columns a table may have, and the child process that parses it.
        "UPLOAD_MAX_BYTES": max(1, _int_env("UPLOAD_MAX_BYTES", 20 * 1024 * 1024)),
        "UPLOAD_ZIP_MAX_ENTRIES": 5000,
        "UPLOAD_ZIP_MAX_UNCOMPRESSED": 200 * 1024 * 1024,
        "UPLOAD_ZIP_MAX_RATIO": 200,
        "UPLOAD_MAX_ROWS": max(1, _int_env("UPLOAD_MAX_ROWS", 20_000)),
        "UPLOAD_MAX_COLUMNS": 200,
        "UPLOAD_PARSE_SECONDS": max(1, _int_env("UPLOAD_PARSE_SECONDS", 20)),
        "UPLOAD_PARSE_MEMORY_MB": max(64, _int_env("UPLOAD_PARSE_MEMORY_MB", 512)),
        # A queued upload job whose wake-up was lost is queued again after this long.
        "UPLOAD_JOB_STALE_SECONDS": 120,
        "API_TITLE": "techfin API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": None,
        "EXTERNAL_URL": os.environ.get("EXTERNAL_URL", "http://127.0.0.1:8000"),
        # How many reverse proxies (nginx, a government gateway) stand in front and may be
        # believed about the client address and scheme; 0 trusts no X-Forwarded-* header.
        "TRUSTED_PROXIES": _int_env("TRUSTED_PROXIES", 0),
        # Digest runs: users claimed per transaction (a killed run leaves at most this many
        # waiting for the lease), messages per SMTP connection, and PostgreSQL marks that
        # skip the WAL flush wait (a database-server crash may then re-send ~0.6 s of mail).
        "DIGEST_BATCH_SIZE": max(1, _int_env("DIGEST_BATCH_SIZE", 200)),
        "DIGEST_LEASE_SECONDS": max(60, _int_env("DIGEST_LEASE_SECONDS", 900)),
        "DIGEST_MESSAGES_PER_CONNECTION": max(1, _int_env("DIGEST_MESSAGES_PER_CONNECTION", 1000)),
        "DIGEST_ASYNC_MARKS": _bool("DIGEST_ASYNC_MARKS"),
        # The task queue (techfin.tasks): Redis when REDIS_URL is set, otherwise an SQLite
        # file beside the database, so `make run` needs no other server.
        "TASK_QUEUE_URL": os.environ.get("TASK_QUEUE_URL")
        or redis_url
        or f"sqlite:///{instance / 'tasks.db'}",
        "TASK_QUEUE_NAME": os.environ.get("TASK_QUEUE_NAME", "techfin"),
        "TASK_WORKERS": max(1, _int_env("TASK_WORKERS", 2)),
        # Needs whose stored matches one task recomputes per transaction.
        "MATCHES_CHUNK": max(1, _int_env("MATCHES_CHUNK", 200)),
        # One task works this long, then re-enqueues itself, so a full recompute never
        # holds a worker thread for minutes and other tasks interleave.
        "MATCHES_TASK_SECONDS": max(1, _int_env("MATCHES_TASK_SECONDS", 20)),
        "MATCHING_HISTORY_TTL": max(0, _int_env("MATCHING_HISTORY_TTL", 30)),
        # Seconds a computed operator dashboard is shown before a page asks for a new one.
        "DASHBOARD_MAX_AGE": max(0, _int_env("DASHBOARD_MAX_AGE", 600)),
        # The application clock, in working days on China's official calendar.
        "APPLICATION_FIRST_RESPONSE_DAYS": max(1, _int_env("APPLICATION_FIRST_RESPONSE_DAYS", 3)),
        "APPLICATION_DECISION_DAYS": max(1, _int_env("APPLICATION_DECISION_DAYS", 10)),
        # The institutions' league table is for operators; on, enterprises see it too (by
        # name, institutions with at least APPLICATION_LEAGUE_MIN_APPLICATIONS in the period).
        "APPLICATION_LEAGUE_FOR_ENTERPRISES": _bool("APPLICATION_LEAGUE_FOR_ENTERPRISES"),
        "APPLICATION_LEAGUE_MIN_APPLICATIONS": max(
            1, _int_env("APPLICATION_LEAGUE_MIN_APPLICATIONS", 5)
        ),
        # Scheduled jobs, as crontab lines in Beijing time (minute hour day month weekday).
        "SCHEDULE": {
            "digests_daily": os.environ.get("SCHEDULE_DIGESTS_DAILY", "0 8 * * *"),
            "digests_weekly": os.environ.get("SCHEDULE_DIGESTS_WEEKLY", "30 8 * * 1"),
            "retrain": os.environ.get("SCHEDULE_RETRAIN", "30 2 * * *"),
            "search_check": os.environ.get("SCHEDULE_SEARCH_CHECK", "17 * * * *"),
            "sweep": os.environ.get("SCHEDULE_SWEEP", "* * * * *"),
            # Daily; the job itself does nothing on a day off (holidays included).
            "application_deadlines": os.environ.get("SCHEDULE_APPLICATION_DEADLINES", "0 9 * * *"),
            # The operator dashboard's default period, computed ahead of the visits.
            "dashboard": os.environ.get("SCHEDULE_DASHBOARD", "*/10 * * * *"),
        },
    }
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # WAL + busy timeout: readers never block the writer, writers queue instead of failing.
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    config.update(overrides)
    config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        config.get("SQLALCHEMY_DATABASE_URI") or config["DATABASE_URL"]
    )
    return config
