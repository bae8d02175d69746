"""The OpenAPI document describes every API route; the docs page uses local assets only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path

import pytest

import techfin

UNDOCUMENTED = {"/api/v1/openapi.json", "/api/v1/docs"}  # the documentation itself
AUTOMATIC = {"HEAD", "OPTIONS"}
# The exceptions to "JSON in, JSON out", each for a reason: a file upload is multipart, a
# download is the file itself, and marking a notice read needs no body.
MULTIPART_BODIES = {("post", "/api/v1/documents"), ("post", "/api/v1/imports")}
BINARY_ANSWERS = {("get", "/api/v1/documents/{document_id}")}
BODYLESS_ACTIONS = {("post", "/api/v1/notifications/{notification_id}/read")}


def _spec_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


@pytest.fixture
def spec(client) -> dict:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.is_json
    return resp.json


def test_openapi_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["version"] == "v1"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)


def test_every_api_route_is_documented_and_nothing_else(app, spec):
    routes = {
        (_spec_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1") and rule.rule not in UNDOCUMENTED
        for method in rule.methods - AUTOMATIC
    }
    documented = {
        (path, method)
        for path, ops in spec["paths"].items()
        for method in ops
        if method != "parameters"
    }
    assert routes and routes == documented


def test_operations_have_request_and_response_schemas(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            where = f"{method.upper()} {path}"
            if method in ("post", "patch") and (method, path) not in BODYLESS_ACTIONS:
                media = "multipart/form-data" if (method, path) in MULTIPART_BODIES else (
                    "application/json")  # fmt: skip
                body = op["requestBody"]["content"][media]["schema"]
                assert body["$ref"].startswith("#/components/schemas/"), where
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert len(ok) == 1, where
            if (method, path) in BINARY_ANSWERS:
                content = op["responses"][ok[0]]["content"]
                assert all(c["schema"]["format"] == "binary" for c in content.values()), where
            elif ok[0] != "204":
                assert "$ref" in op["responses"][ok[0]]["content"]["application/json"]["schema"]
            for code in ("401", "429"):
                assert code in op["responses"], where
            if "{" in path:
                assert "404" in op["responses"], where
            if method in ("post", "patch") and (method, path) not in BODYLESS_ACTIONS:
                assert {"400", "422"} <= set(op["responses"]), where


def test_error_envelope_is_the_documented_error(spec):
    schemas = spec["components"]["schemas"]
    assert set(schemas["Error"]["properties"]) == {"error"}
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "message", "fields"}
    response = spec["components"]["responses"][HTTPStatus(422).name]
    assert response["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_list_pages_match_the_contract(spec):
    schemas = spec["components"]["schemas"]
    for name in ("Enterprise", "Patent", "Need", "Funder", "Product", "Outcome"):
        page = schemas[f"{name}Page"]
        assert set(page["properties"]) == {"items", "page", "per_page", "total"}
        item = schemas[f"{name}Out"]
        assert {"id", "ref"} <= set(item["properties"])
    params = {p["name"] for p in spec["paths"]["/api/v1/needs"]["get"]["parameters"]}
    assert {
        "page",
        "per_page",
        "ref",
        "kind",
        "status",
        "enterprise_ref",
        "industry",
        "region",
    } <= params


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        self._in_script = tag == "script"
        if tag == "script" and not attrs.get("src"):
            self.inline_scripts += 1
        if any(name.startswith("on") for name in attrs):
            self.inline_scripts += 1

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def test_docs_page_uses_local_assets_only(client):
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    page = resp.get_data(as_text=True)
    assets = _Assets()
    assets.feed(page)
    assert assets.inline_scripts == 0
    assert sorted(u.split("?v=")[0] for u in assets.urls) == [  # ?v=: the file's hash
        "/static/js/swagger-init.js",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
    ]
    assert "//" not in page.replace("<!doctype html>", "").split("<body>")[1].replace("://", "")
    for url in assets.urls:
        with client.get(url) as served:
            assert served.status_code == 200 and len(served.get_data()) > 100, url
    assert 'data-spec-url="/api/v1/openapi.json"' in page


def test_swagger_init_script_points_at_our_spec_and_no_outside_service():
    static = Path(techfin.__file__).parent / "static"
    script = (static / "js" / "swagger-init.js").read_text()
    assert "SwaggerUIBundle(" in script and "data-spec-url" in script
    assert "validatorUrl: null" in script and "http" not in script


def test_match_entries_are_typed_objects(spec):
    """Issue #14 item 15: generated clients could not read `.name` of an untyped object."""
    schemas = spec["components"]["schemas"]

    def target(prop: dict) -> dict:
        ref = prop.get("$ref") or next(p["$ref"] for p in prop.get("allOf", []) if "$ref" in p)
        return schemas[ref.rsplit("/", 1)[1]]

    entry = schemas["MatchEntry"]["properties"]
    product, need, funder = (target(entry[k]) for k in ("product", "need", "funder"))
    assert {"id", "ref", "name", "kind"} <= set(funder["properties"])
    assert {"name", "funder", "min_amount_cny"} <= set(product["properties"])
    assert {"name", "enterprise", "amount_cny"} <= set(need["properties"])
    assert "name" in target(need["properties"]["enterprise"])["properties"]


# What /api/v1/copyrights and /api/v1/trademarks documented when each was written by hand;
# one factory makes both now (techfin/api/ip_rights.py), and the document must not move.
IP_OPERATIONS = {
    # (path suffix, method): (answer, its schema, request schema, error codes)
    ("", "get"): ("200", "{}Page", None, {"401", "422", "429"}),
    ("", "post"): ("201", "{}Out", "{}Create", {"400", "401", "403", "409", "422", "429"}),
    ("/{item_id}", "get"): ("200", "{}Out", None, {"401", "404", "429"}),
    ("/{item_id}", "patch"): (
        "200",
        "{}Out",
        "{}Update",
        {"400", "401", "403", "404", "409", "422", "429"},
    ),  # fmt: skip
    ("/{item_id}", "delete"): ("204", None, None, {"401", "403", "404", "429"}),
}
IP_SUMMARIES = {
    ("", "get"): "List the {}s the caller may see.",
    ("", "post"): "Add a {} to the caller's enterprise (operators name the enterprise_ref).",
    ("/{item_id}", "get"): "One {}.",
    ("/{item_id}", "patch"): "Change some fields of a {}.",
    ("/{item_id}", "delete"): "Delete a {}.",
}


@pytest.mark.parametrize(
    ("plural", "name", "noun"),
    [("copyrights", "Copyright", "software copyright"), ("trademarks", "Trademark", "trademark")],
)
def test_copyright_and_trademark_resources_keep_their_documented_shape(spec, plural, name, noun):
    def ref(schema: str) -> dict:
        return {"$ref": f"#/components/schemas/{schema.format(name)}"}

    paths = {p: ops for p, ops in spec["paths"].items() if p.startswith(f"/api/v1/{plural}")}
    assert set(paths) == {f"/api/v1/{plural}", f"/api/v1/{plural}/{{item_id}}"}
    documented = {(p.removeprefix(f"/api/v1/{plural}"), m) for p, ops in paths.items()
                  for m in ops if m != "parameters"}  # fmt: skip
    assert documented == set(IP_OPERATIONS)
    for (suffix, method), (status, answer, body, codes) in IP_OPERATIONS.items():
        op = paths[f"/api/v1/{plural}{suffix}"][method]
        assert op["tags"] == [plural]
        assert op["summary"] == IP_SUMMARIES[suffix, method].format(noun)
        assert set(op["responses"]) == {status} | codes
        content = op["responses"][status].get("content")
        assert (content["application/json"]["schema"] if content else None) == (
            ref(answer) if answer else None
        )
        request_body = op.get("requestBody")
        assert (request_body["content"]["application/json"]["schema"] if request_body
                else None) == (ref(body) if body else None)  # fmt: skip
    item_parameters = paths[f"/api/v1/{plural}/{{item_id}}"]["parameters"]
    assert [(p["name"], p["in"]) for p in item_parameters] == [("item_id", "path")]
    for suffix in ("Create", "Out", "Page", "Update"):
        assert f"{name}{suffix}" in spec["components"]["schemas"]
