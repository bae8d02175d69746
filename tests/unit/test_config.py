from __future__ import annotations

import pytest

from techfin import create_app
from techfin.config import ConfigError, load_config, normalise_database_url


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("TECHFIN_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"INSTANCE_DIR": str(tmp_path)})


def test_production_refuses_debug(monkeypatch, tmp_path):
    monkeypatch.setenv("TECHFIN_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="DEBUG"):
        load_config({"INSTANCE_DIR": str(tmp_path)})


def test_production_cookies_are_secure(monkeypatch, tmp_path):
    monkeypatch.setenv("TECHFIN_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    cfg = load_config({"INSTANCE_DIR": str(tmp_path)})
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True
    assert cfg["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_generates_and_keeps_a_secret(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("TECHFIN_ENV", raising=False)
    first = load_config({"INSTANCE_DIR": str(tmp_path)})["SECRET_KEY"]
    second = load_config({"INSTANCE_DIR": str(tmp_path)})["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_names(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    monkeypatch.setenv("INDEX_DIR", "/srv/index")
    monkeypatch.setenv("MODEL_DIR", "/srv/model")
    monkeypatch.setenv("SMTP_HOST", "mail.example.cn")
    monkeypatch.setenv("SMTP_PORT", "587")
    monkeypatch.setenv("SMTP_SECURITY", "starttls")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    cfg = load_config({"INSTANCE_DIR": str(tmp_path)})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://postgres@127.0.0.1:5432/x"
    assert (cfg["INDEX_DIR"], cfg["MODEL_DIR"]) == ("/srv/index", "/srv/model")
    assert (cfg["SMTP_HOST"], cfg["SMTP_PORT"], cfg["SMTP_SECURITY"]) == (
        "mail.example.cn",
        587,
        "starttls",
    )
    assert cfg["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


def test_default_database_is_sqlite_in_instance(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cfg = load_config({"INSTANCE_DIR": str(tmp_path)})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'techfin.db'}"
    assert normalise_database_url("postgres://h/db") == "postgresql+psycopg://h/db"


@pytest.mark.parametrize("redis_url", ["", "redis://127.0.0.1:6379/0"])
def test_production_without_redis_warns_that_limits_are_per_worker(
    monkeypatch, tmp_path, caplog, redis_url
):
    monkeypatch.setenv("TECHFIN_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    with caplog.at_level("WARNING", logger="techfin"):
        create_app({"INSTANCE_DIR": str(tmp_path), "DATABASE_URL": db})
    warned = [r for r in caplog.records if "REDIS_URL is not set" in r.getMessage()]
    assert len(warned) == (0 if redis_url else 1)
