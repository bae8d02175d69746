"""Extension singletons, created once here and bound in create_app()."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints: Alembic can only alter/drop what has a stable name (SQLite batch mode).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def _client_key() -> str:
    return get_remote_address() or request.remote_addr or "unknown"


# Rate-limit counters live where RATELIMIT_STORAGE_URI points (config.py): the Redis of
# REDIS_URL when set, so every gunicorn worker (and host) counts against one budget; without
# REDIS_URL they are in memory, and each worker process then allows the full limit on its own
# (2 workers: up to twice the login attempts). Key prefix and the in-memory fallback when
# Redis goes away are set in config.py too (RATELIMIT_KEY_PREFIX, …_FALLBACK_ENABLED).
limiter = Limiter(key_func=_client_key, default_limits=[], strategy="fixed-window")
