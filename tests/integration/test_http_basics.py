from __future__ import annotations

import pytest


def test_security_headers_on_every_response(client):
    for path in ("/", "/auth/login", "/no-such-page"):
        resp = client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in resp.headers


def test_hsts_over_https(client):
    resp = client.get("/auth/login", base_url="https://localhost")
    assert "max-age" in resp.headers["Strict-Transport-Security"]


@pytest.mark.app_config(TRUSTED_PROXIES=1)
def test_behind_a_trusted_proxy_forwarded_https_gets_hsts(client):
    resp = client.get("/auth/login", headers={"X-Forwarded-Proto": "https"})
    assert "max-age" in resp.headers["Strict-Transport-Security"]


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(client):
    resp = client.get("/auth/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in resp.headers


def test_trusted_proxies_must_be_a_number(monkeypatch):
    from techfin.config import ConfigError, load_config

    monkeypatch.setenv("TRUSTED_PROXIES", "yes")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_config({})


def test_api_errors_are_json_never_html(client):
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.is_json and resp.json["error"]["code"] == "not_found"


def test_405_says_which_methods_are_allowed(client):
    resp = client.put("/api/v1/enterprises")
    assert resp.status_code == 405 and resp.is_json
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "POST"}
    resp = client.delete("/auth/login")
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"]


def test_page_errors_are_html(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and resp.mimetype == "text/html"


def test_login_required_redirects(client):
    resp = client.get("/dashboard")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def test_health(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_bootstrap_is_served_locally(client):
    page = client.get("/auth/login").get_data(as_text=True)
    assert "cdn." not in page and "jsdelivr" not in page
    assert "/bootstrap/static/css/bootstrap.min.css" in page


def test_csrf_enforced_when_enabled(app):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    resp = client.post("/auth/login", data={"email": "a@b.cn", "password": "x" * 9})
    assert resp.status_code == 400


def test_text_responses_are_compressed_and_decode_to_the_same_bytes(client):
    """Issue #14 item 16: the 1 MB chart script went out raw. A browser's Accept-Encoding
    gets brotli (or zstd); the bytes decode to the file; tiny or unasked responses stay raw."""
    import brotli

    path = "/static/vendor/echarts/echarts.common.min.js"
    raw = client.get(path, headers={"Accept-Encoding": ""})
    original = raw.get_data()
    raw.close()
    assert "Content-Encoding" not in raw.headers and len(original) > 500_000
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    body = packed.get_data()
    packed.close()
    assert packed.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(body) < len(original) / 2 and brotli.decompress(body) == original
    page = client.get("/auth/login", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    import gzip

    assert b"<html" in gzip.decompress(page.get_data())
    health = client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in health.headers  # below COMPRESS_MIN_SIZE


def test_static_files_carry_their_hash_and_are_cached_for_a_year(client):
    """Issue #14 item 16: a returning visitor fetches no script or style sheet again until a
    deployment changes it (its URL carries the file's hash)."""
    import hashlib
    import re
    from pathlib import Path

    import techfin

    page = client.get("/auth/login").get_data(as_text=True)
    url = re.search(r'href="(/static/css/app\.css\?v=([0-9a-f]{12}))"', page)
    assert url, "the style sheet's URL carries no version"
    css = Path(techfin.__file__).parent / "static" / "css" / "app.css"
    assert url.group(2) == hashlib.sha256(css.read_bytes()).hexdigest()[:12]
    with client.get(url.group(1)) as versioned:
        assert versioned.status_code == 200
        assert "max-age=31536000" in versioned.headers["Cache-Control"]
    with client.get("/static/css/app.css") as plain:  # no version: revalidated as before
        assert "max-age=31536000" not in plain.headers.get("Cache-Control", "")
    assert re.search(r'src="/static/js/app\.js\?v=[0-9a-f]{12}"', page)
