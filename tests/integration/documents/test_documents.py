"""Documents: the type read from the content, size and zip-bomb limits, who may download,
the access log, the original (Chinese) filename kept, and the 我的材料 page."""

from __future__ import annotations

import io
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from techfin.extensions import db
from techfin.models import DataAccess, Document, DocumentGrant
from tests.integration.documents.conftest import zip_bomb

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def multipart(data: bytes, name: str, kind: str) -> tuple[bytes, str]:
    """A multipart body encoded here, as a browser would (UTF-8 name, `"` escaped): the test
    client's own encoder spools bodies over 500 KB to a temporary file it never closes."""
    boundary = "----techfin-test-boundary"
    quoted = name.replace("\\", "\\\\").replace('"', "%22")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def post_file(client, headers, data: bytes, name: str, kind: str = "other", url: str = ""):  # noqa: ANN001, ANN201
    body, content_type = multipart(data, name, kind)
    return client.post(url or "/api/v1/documents", headers=headers, data=body,
                       content_type=content_type)  # fmt: skip


def stored_files(app) -> list[Path]:  # noqa: ANN001
    folder = Path(app.config["INSTANCE_DIR"]) / "documents"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def error_text(resp) -> str:  # noqa: ANN001
    body = resp.get_json()["error"]
    return body["message"] + " " + " ".join(m for ms in body["fields"].values() for m in ms)


# ------------------------------------------------------------------ accepted types


@pytest.mark.parametrize(
    ("kind", "name", "mime"),
    [
        ("pdf", "商业计划书.pdf", "application/pdf"),
        ("png", "营业执照.png", "image/png"),
        ("jpeg", "专利证书.jpg", "image/jpeg"),
        ("jpeg", "scan.JPEG", "image/jpeg"),
        ("xlsx", "2025年财务报表.xlsx", XLSX),
    ],
)
def test_accepted_types_are_stored_under_a_random_name(
    app, client, bearer, files, ctx, kind, name, mime
):
    data = files[kind]()
    resp = post_file(client, bearer("e1@x.cn"), data, name, "financial_statements")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["filename"] == name and body["content_type"] == mime
    assert body["size"] == len(data) and body["kind"] == "financial_statements"
    (path,) = stored_files(app)
    assert path.read_bytes() == data
    # The stored name says nothing about the file or its owner, and it is outside static/.
    assert name.split(".")[0] not in path.name and "." not in path.name
    assert "static" not in path.parts
    with ctx():
        doc = db.session.get(Document, body["id"])
        assert doc.stored_name == path.name and len(doc.sha256) == 64


# ------------------------------------------------------------------ refused types


@pytest.mark.parametrize(
    ("kind", "name", "says"),
    [
        ("exe", "商业计划书.pdf", "application/x-msdownload"),  # a renamed executable
        ("exe", "invoice.png", "application/x-msdownload"),
        ("zip", "财务报表.pdf", "ZIP"),  # a .pdf that is really a zip
        ("zip", "财务报表.xlsx", "not an Excel workbook"),  # a zip that is no spreadsheet
        ("png", "photo.pdf", "image/png"),  # the name must agree with the content
        ("pdf", "report.exe", ".exe"),
        ("pdf", "noextension", "noextension"),
        ("truncated_xlsx", "报表.xlsx", "damaged"),  # the zip's directory is cut off
    ],
)
def test_refused_by_content_with_a_clear_message(app, client, bearer, files, ctx, kind, name, says):
    resp = post_file(client, bearer("e1@x.cn"), files[kind](), name)
    assert resp.status_code == 422
    assert says in error_text(resp)
    assert "file" in resp.get_json()["error"]["fields"]
    assert stored_files(app) == []
    with ctx():
        assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_text_and_empty_files_are_refused(client, bearer):
    assert post_file(client, bearer("e1@x.cn"), b"hello", "a.pdf").status_code == 422
    empty = post_file(client, bearer("e1@x.cn"), b"", "a.pdf")
    assert empty.status_code == 422 and "empty" in error_text(empty)


def test_bad_kind_and_missing_file(client, bearer, files):
    bad = post_file(client, bearer("e1@x.cn"), files["pdf"](), "a.pdf", kind="passport")
    assert bad.status_code == 422 and "kind" in bad.get_json()["error"]["fields"]
    none = client.post("/api/v1/documents", headers=bearer("e1@x.cn"),
                       content_type="multipart/form-data", data={"kind": "other"})  # fmt: skip
    assert none.status_code == 422 and "file" in none.get_json()["error"]["fields"]


def test_a_zip_bomb_workbook_is_refused_within_two_seconds(app, client, bearer, ctx):
    bomb = zip_bomb()  # ~1 MB declaring 8 GiB
    assert len(bomb) < 1_200_000
    started = time.monotonic()
    resp = post_file(client, bearer("e1@x.cn"), bomb, "财务报表.xlsx")
    elapsed = time.monotonic() - started
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert "zip bomb" in error_text(resp) and "压缩炸弹" in error_text(resp)
    assert elapsed < 2.0
    assert stored_files(app) == []


def test_too_many_zip_entries_are_refused(app, client, bearer):
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(app.config["DOCUMENT_ZIP_MAX_ENTRIES"]):
            z.writestr(f"xl/media/{i}.bin", b"")
    resp = post_file(client, bearer("e1@x.cn"), out.getvalue(), "many.xlsx")
    assert resp.status_code == 422 and "too complex" in error_text(resp)


# ------------------------------------------------------------------ size


@pytest.mark.parametrize("extra", [1, 2 * 1024 * 1024])  # caught while copying / by Flask
def test_over_20_mb_is_a_413_with_the_limit_named(app, client, bearer, files, extra):
    resp = post_file(client, bearer("e1@x.cn"), files["pdf"](20 * 1024 * 1024 + extra), "big.pdf")
    assert resp.status_code == 413
    assert "20 MB" in error_text(resp) and "20 MB 上限" in error_text(resp)
    assert stored_files(app) == []


def test_documents_may_exceed_the_app_wide_request_limit(app, client, bearer, files):
    """MAX_CONTENT_LENGTH (16 MB) still holds elsewhere; this route allows 20 MB."""
    assert app.config["MAX_CONTENT_LENGTH"] < 17 * 1024 * 1024
    data = files["pdf"](17 * 1024 * 1024)
    resp = post_file(client, bearer("e1@x.cn"), data, "年报.pdf")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["size"] == len(data)
    other = client.post("/api/v1/needs", headers=bearer("e1@x.cn"), data=b"x" * len(data),
                        content_type="application/json")  # fmt: skip
    assert other.status_code == 413


def test_the_page_says_the_limit_in_the_users_language(app, client, login, files):
    app.config["DOCUMENT_MAX_BYTES"] = 1024 * 1024
    login("e1@x.cn")
    resp = post_file(
        client, {}, files["pdf"](2 << 20), "a.pdf", url="/enterprise/documents?lang=en"
    )
    resp = client.get(resp.headers["Location"]) if resp.status_code in (302, 303) else resp
    assert "larger than 1 MB" in resp.get_data(as_text=True)
    resp = post_file(
        client, {}, files["pdf"](2 << 20), "a.pdf", url="/enterprise/documents?lang=zh_CN"
    )
    resp = client.get(resp.headers["Location"]) if resp.status_code in (302, 303) else resp
    assert "1 MB" in resp.get_data(as_text=True) and "超过" in resp.get_data(as_text=True)
    assert stored_files(app) == []


# ------------------------------------------------------------------ who may download


def _upload(client, bearer, files, name: str = "资产负债表 2025（审计）.pdf") -> int:  # noqa: ANN001
    resp = post_file(client, bearer("e1@x.cn"), files["pdf"](), name, "financial_statements")
    assert resp.status_code == 201
    return resp.get_json()["id"]


def _grant(ctx, users, doc_id: int, funder_ref: str, revoke: bool = False) -> None:  # noqa: ANN001
    from techfin.models import User
    from techfin.services import accounts, documents

    with ctx():
        owner = db.session.get(User, users["e1@x.cn"])
        docs = documents.owned(owner, [doc_id])
        action = documents.revoke if revoke else documents.grant
        action(owner, docs, accounts.find_organization(funder_ref), commit=True)


def _log(ctx) -> list[tuple]:  # noqa: ANN001
    with ctx():
        return [(r.funder_id, r.user_id, r.action, r.what) for r in db.session.scalars(
            db.select(DataAccess).order_by(DataAccess.id))]  # fmt: skip


def test_download_access_per_role_and_revoked_grant(client, bearer, files, users, ctx):
    from techfin.services import accounts

    doc_id = _upload(client, bearer, files)
    url = f"/api/v1/documents/{doc_id}"
    owner = client.get(url, buffered=True, headers=bearer("e1@x.cn"))
    assert owner.status_code == 200 and owner.data == files["pdf"]()
    assert owner.mimetype == "application/pdf"
    for outsider in ("e2@x.cn", "bank@x.cn", "vc@x.cn"):
        assert client.get(url, buffered=True, headers=bearer(outsider)).status_code == 404, outsider
    assert client.get(url).status_code == 401
    assert _log(ctx) == []  # the owner reading its own file is not "someone looked"

    _grant(ctx, users, doc_id, "F-001")
    granted = client.get(url, buffered=True, headers=bearer("bank@x.cn"))
    assert granted.status_code == 200 and granted.data == files["pdf"]()
    assert client.get(url, buffered=True, headers=bearer("vc@x.cn")).status_code == 404  # not F-002
    assert client.get(url, buffered=True, headers=bearer("op@x.cn")).status_code == 200
    with ctx():
        bank_id = accounts.find_organization("F-001").id
    assert _log(ctx) == [
        (bank_id, users["bank@x.cn"], "download", "document"),
        (None, users["op@x.cn"], "download", "document"),
    ]

    _grant(ctx, users, doc_id, "F-001", revoke=True)
    assert client.get(url, buffered=True, headers=bearer("bank@x.cn")).status_code == 404
    assert len(_log(ctx)) == 2  # a refused download is not logged
    with ctx():
        grant = db.session.scalars(db.select(DocumentGrant)).one()
        assert grant.revoked_at is not None  # kept as history


def test_each_institution_download_is_one_access_log_entry(client, bearer, files, users, ctx):
    doc_id = _upload(client, bearer, files)
    _grant(ctx, users, doc_id, "F-001")
    for _ in range(3):
        assert (
            client.get(
                f"/api/v1/documents/{doc_id}", headers=bearer("bank@x.cn"), buffered=True
            ).status_code
            == 200
        )
    assert [row[2] for row in _log(ctx)] == ["download"] * 3


def test_the_enterprise_sees_the_download_in_who_looked(client, bearer, files, users, ctx, login):
    doc_id = _upload(client, bearer, files)
    _grant(ctx, users, doc_id, "F-001")
    client.get(f"/api/v1/documents/{doc_id}", headers=bearer("bank@x.cn"), buffered=True)
    login("e1@x.cn")
    html = client.get("/enterprise/sharing?lang=zh_CN").get_data(as_text=True)
    log = html[html.index('id="access-log"') :]
    assert "中国银行中山分行" in log or "F-001" in log or "银行" in log
    assert "下载" in log


@pytest.mark.parametrize(
    "name",
    ["资产负债表 2025（审计）.pdf", "plain-ascii.pdf", "分号;和,逗号 (1).pdf", "emoji📄报告.pdf"],
)
def test_the_original_filename_round_trips(client, bearer, files, name):
    doc_id = _upload(client, bearer, files, name)
    resp = client.get(f"/api/v1/documents/{doc_id}", headers=bearer("e1@x.cn"), buffered=True)
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    if name.isascii():
        assert name in disposition
    else:
        # RFC 5987: filename*=UTF-8''<percent-encoded>, with an ASCII fallback filename=
        assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition.replace("%2C", ",").replace(
            ",", "%2C")  # fmt: skip
    listed = client.get("/api/v1/documents", headers=bearer("e1@x.cn")).get_json()
    assert [d["filename"] for d in listed["items"]] == [name]


def test_a_path_in_the_name_is_dropped(client, bearer, files):
    resp = post_file(client, bearer("e1@x.cn"), files["pdf"](), "../../秘密/报表.pdf")
    assert resp.status_code == 201 and resp.get_json()["filename"] == "报表.pdf"


# ------------------------------------------------------------------ list, delete, owned()


def test_list_and_delete_through_the_api(app, client, bearer, files):
    first = _upload(client, bearer, files, "a.pdf")
    second = _upload(client, bearer, files, "b.pdf")
    items = client.get("/api/v1/documents", headers=bearer("e1@x.cn")).get_json()["items"]
    assert [d["id"] for d in items] == [second, first]
    paged = client.get("/api/v1/documents?per_page=1&page=2", headers=bearer("e1@x.cn")).get_json()
    assert ([d["id"] for d in paged["items"]], paged["total"]) == ([first], 2)
    assert client.get("/api/v1/documents", headers=bearer("e2@x.cn")).get_json()["items"] == []
    assert client.get("/api/v1/documents", headers=bearer("bank@x.cn")).status_code == 403
    assert client.delete(f"/api/v1/documents/{first}", headers=bearer("e2@x.cn")).status_code == 404
    assert client.delete(f"/api/v1/documents/{first}", headers=bearer("e1@x.cn")).status_code == 204
    assert len(stored_files(app)) == 1
    assert client.get(f"/api/v1/documents/{first}", headers=bearer("e1@x.cn")).status_code == 404
    items = client.get("/api/v1/documents", headers=bearer("e1@x.cn")).get_json()["items"]
    assert [d["id"] for d in items] == [second]


def test_owned_refuses_ids_of_another_enterprise(client, bearer, files, users, ctx):
    from techfin.errors import DomainError
    from techfin.models import User
    from techfin.services import documents

    mine = _upload(client, bearer, files)
    theirs = post_file(client, bearer("e2@x.cn"), files["png"](), "x.png").get_json()["id"]
    with ctx():
        owner = db.session.get(User, users["e1@x.cn"])
        assert [d.id for d in documents.owned(owner, [mine, mine])] == [mine]
        with pytest.raises(DomainError) as err:
            documents.owned(owner, [mine, theirs])
        text = err.value.fields["document_ids"][0]
        assert str(theirs) in text and "not among your enterprise's" in text and "不属于" in text
        for bad in (["x"], [0], [True], [2**40]):
            with pytest.raises(DomainError):
                documents.owned(owner, bad)


# ------------------------------------------------------------------ the page


def test_the_my_documents_page_upload_list_download_delete(app, client, login, files):
    login("e1@x.cn")
    html = client.get("/enterprise/documents?lang=zh_CN").get_data(as_text=True)
    assert "我的材料" in html and 'enctype="multipart/form-data"' in html
    nav = html[html.index('id="role-nav"') : html.index("</ul>", html.index('id="role-nav"'))]
    assert "/enterprise/documents" in nav
    resp = client.post("/enterprise/documents", content_type="multipart/form-data",
                       data={"kind": "tax_certificate",
                             "file": (io.BytesIO(files["jpeg"]()), "完税证明.jpg")})  # fmt: skip
    assert resp.status_code == 302
    html = client.get("/enterprise/documents?lang=zh_CN").get_data(as_text=True)
    assert "完税证明.jpg" in html and "完税证明" in html
    with app.app_context():
        doc_id = db.session.scalar(db.select(Document.id))
    download = client.get(f"/documents/{doc_id}", buffered=True)
    assert download.status_code == 200 and download.data == files["jpeg"]()
    assert quote("完税证明.jpg") in download.headers["Content-Disposition"]
    refused = client.post("/enterprise/documents?lang=en", content_type="multipart/form-data",
                          data={"kind": "other",
                                "file": (io.BytesIO(files["exe"]()), "setup.pdf")})  # fmt: skip
    assert refused.status_code == 422 and "not accepted" in refused.get_data(as_text=True)
    assert client.post(f"/enterprise/documents/{doc_id}/delete").status_code == 302
    assert client.get(f"/documents/{doc_id}", buffered=True).status_code == 404
    assert stored_files(app) == []


def test_the_page_download_is_404_for_an_institution_without_a_grant(client, bearer, files, login):
    doc_id = _upload(client, bearer, files)
    login("bank@x.cn")
    assert client.get(f"/documents/{doc_id}", buffered=True).status_code == 404
    login("e2@x.cn")
    assert client.get(f"/documents/{doc_id}", buffered=True).status_code == 404
    assert client.post(f"/enterprise/documents/{doc_id}/delete").status_code == 404
