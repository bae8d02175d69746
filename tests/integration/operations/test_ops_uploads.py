"""Uploads off the request path (issue #13): a zip bomb and a 50 000-row sheet are answered
within 2 s with a clear message while the next request is still served; the bounded parse
kills a runaway parse (time, memory) and leaves the calling process alone; reconciliation
gives the same result through the queue (a real worker on Redis) and can be downloaded;
an import through the page or the API equals `flask import-data`; a job whose wake-up was
lost is picked up again."""

from __future__ import annotations

import csv
import functools
import io
import os
import random
import string
import tempfile
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from test_ops_pool import _bank_file, _make_pool

from techfin.extensions import db
from techfin.models import Enterprise, RiskPool, UploadJob
from techfin.services import pool as pools
from techfin.services import upload_jobs, uploads
from tests.integration.documents.conftest import zip_bomb
from tests.integration.operations.conftest import work_queue

SAMPLE = Path(__file__).parents[2] / "data" / "sample.jsonl"
SQLITE_QUEUE = f"sqlite:///{tempfile.gettempdir()}/techfin-uploads-{os.getpid()}-tasks.db"
QUEUED = {"TASK_QUEUE_URL": SQLITE_QUEUE, "TASK_QUEUE_NAME": f"uploads-{os.getpid()}"}


# ------------------------------------------------------------------ files


@functools.cache
def big_sheet(rows: int = 50_000) -> bytes:
    """A plain sheet of `rows` data rows (write-only: no declared dimension, so the row cap
    is reached by counting, the slow way)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("enterprise")
    sheet.append(["ref", "name", "industry", "region"])
    for i in range(rows):
        sheet.append([f"B-{i}", f"企业{i}", "C38", "442000"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


@functools.cache
def memory_heavy(cells: int = 2000, width: int = 30_000) -> bytes:
    """~450 KB expanding to 60 MB of cell text (ratio ~130:1, within the zip limits): reading
    it needs some 150 MB. A 16 KiB random block repeated keeps deflate from doing better."""
    book = Workbook()
    book.active.append(["x"])
    buf = io.BytesIO()
    book.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    block = "".join(random.Random(3).choices(string.ascii_letters, k=16384)).encode()
    text = (block * 2)[:width]
    rows = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c></row>'
                    % (i, i, text) for i in range(1, cells + 1))  # fmt: skip
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
             b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>' + rows +
             b"</sheetData></worksheet>")  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            name = info.filename
            z.writestr(name, sheet if name == "xl/worksheets/sheet1.xml" else src.read(name))
    return out.getvalue()


def stored_uploads(app) -> list[Path]:  # noqa: ANN001
    folder = Path(app.config["INSTANCE_DIR"]) / "uploads"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def multipart(data: bytes, name: str, **fields: str) -> tuple[bytes, str]:
    """A multipart body encoded here, as a browser would: the test client's own encoder
    spools bodies over 500 KB to a temporary file it never closes."""
    boundary = "----techfin-test-boundary"
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items())  # fmt: skip
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n")  # fmt: skip
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _post(client, url: str, data: bytes, name: str, headers=None, **fields):  # noqa: ANN001, ANN003, ANN202
    body, content_type = multipart(data, name, **fields)
    return client.post(url, data=body, content_type=content_type, headers=headers or {})


def _pool_id(app) -> int:  # noqa: ANN001
    from techfin.models import User

    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        return _make_pool(user).id


def _token(app, email: str) -> dict[str, str]:  # noqa: ANN001
    from techfin.models import User
    from techfin.services import accounts

    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        return {"Authorization": f"Bearer {accounts.create_api_token(user, 'uploads')}"}


def _job(app, job_id: int) -> UploadJob:  # noqa: ANN001
    with app.app_context():
        job = db.session.get(UploadJob, job_id)
        db.session.expunge(job)
        return job


@pytest.fixture
def flush_queue():
    yield
    from techfin.tasks import huey

    if not huey.immediate:
        huey.flush()


# ------------------------------------------------------------------ the proof of the issue


def test_a_zip_bomb_is_answered_within_two_seconds_and_the_next_request_is_served(
    app, client, users, login
):
    bomb = zip_bomb()  # ~1 MB declaring 8 GiB
    assert len(bomb) < 1_200_000
    pool_id = _pool_id(app)
    login("op@ops.cn")
    started = time.monotonic()
    resp = _post(client, f"/operations/pools/{pool_id}/reconcile", bomb, "2026Q3.xlsx",
                 quarter="2026Q3")  # fmt: skip
    elapsed = time.monotonic() - started
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "is-invalid" in html
    assert "疑似压缩炸弹" in html  # the reader's language (zh_CN) only
    assert elapsed < 2.0, elapsed
    started = time.monotonic()
    resp = _post(client, "/api/v1/imports", bomb, "data.xlsx", headers=_token(app, "op@ops.cn"))
    assert time.monotonic() - started < 2.0
    assert resp.status_code == 422
    message = resp.get_json()["error"]["fields"]["file"][0]
    assert "zip bomb" in message and "压缩炸弹" in message
    assert stored_uploads(app) == []  # nothing of a refused file stays
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(UploadJob.id))) == 0
    assert client.get(f"/operations/pools/{pool_id}").status_code == 200


@pytest.mark.app_config(**QUEUED)
def test_a_50000_row_sheet_is_answered_within_two_seconds_then_refused_with_a_clear_message(
    app, client, users, login, flush_queue
):
    sheet = big_sheet()
    pool_id = _pool_id(app)
    login("op@ops.cn")
    started = time.monotonic()
    resp = _post(client, f"/operations/pools/{pool_id}/reconcile", sheet, "q3.xlsx",
                 quarter="2026Q3")  # fmt: skip
    assert time.monotonic() - started < 2.0
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"])
    html = page.get_data(as_text=True)
    assert 'data-status="queued"' in html and "data-poll=" in html and "http-equiv" not in html
    status_url = f"{page.request.path}/status"
    assert client.get(status_url).get_json() == {"status": "queued", "finished": False}
    started = time.monotonic()
    resp = _post(
        client, "/api/v1/imports", sheet, "enterprises.xlsx", headers=_token(app, "op@ops.cn")
    )
    assert time.monotonic() - started < 2.0
    assert resp.status_code == 202
    import_id = resp.get_json()["id"]
    assert resp.get_json() == {"id": import_id, "status": "queued"}
    assert client.get(f"/operations/pools/{pool_id}").status_code == 200  # still serving

    started = time.monotonic()
    assert work_queue().count("process_upload") == 2
    assert time.monotonic() - started < 2 * app.config["UPLOAD_PARSE_SECONDS"]
    html = client.get(page.request.path).get_data(as_text=True)
    assert 'data-status="failed"' in html and "data-poll=" not in html
    assert client.get(status_url).get_json() == {"status": "failed", "finished": True}
    assert "文件超过 20,000 行，请拆分后分别上传" in html
    body = client.get(f"/api/v1/imports/{import_id}", headers=_token(app, "op@ops.cn")).get_json()
    assert body["status"] == "failed" and body["result"] is None
    assert "more than 20,000 rows: split the file" in body["error"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Enterprise.id)).where(
            Enterprise.ref.like("B-%"))) == 0  # fmt: skip


def test_the_bounded_parse_kills_a_runaway_parse_and_the_caller_carries_on(app, tmp_path):
    slow = tmp_path / "slow"
    slow.write_bytes(big_sheet())
    heavy = tmp_path / "heavy"
    heavy.write_bytes(memory_heavy())
    with app.app_context():
        uploads.check_xlsx(heavy)  # within every zip limit: only reading it costs
        started = time.monotonic()
        with pytest.raises(uploads.UploadRefused) as caught:
            uploads.run_bounded("xlsx_sheets", str(slow), 10**6, 10, False, seconds=1)
        assert time.monotonic() - started < 4.0
        assert "took longer than 1 s" in caught.value.message
        with pytest.raises(uploads.UploadRefused) as caught:
            uploads.run_bounded("xlsx_sheets", str(heavy), 10**6, 10, False, memory_mb=100)
        assert "needs more than 100 MB of memory" in caught.value.message
        # The same file within a larger limit reads: it was the limit, not the file.
        sheets = uploads.run_bounded("xlsx_sheets", str(heavy), 10**6, 10, False, memory_mb=512)
        assert len(sheets[0][1]) == 2000 and len(sheets[0][1][0][0]) == 30_000


@pytest.mark.app_config(UPLOAD_PARSE_SECONDS=1, UPLOAD_MAX_ROWS=10**6)
def test_a_job_over_the_time_limit_fails_and_the_worker_serves_the_next_one(
    app, client, users, login
):
    pool_id = _pool_id(app)
    login("op@ops.cn")
    resp = _post(client, f"/operations/pools/{pool_id}/reconcile", big_sheet(), "q3.xlsx",
                 quarter="2026Q3")  # fmt: skip
    job_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    job = _job(app, job_id)
    assert job.status == "failed" and "took longer than 1 s" in job.error
    # The same process goes on: the next upload is read and reconciled (a CSV: a child
    # started under a 1 s limit on a loaded machine might itself be too slow).
    resp = _post(client, f"/operations/pools/{pool_id}/reconcile",
                 _bank_file([], "csv"), "q3.csv", quarter="2026Q3")  # fmt: skip
    job = _job(app, int(resp.headers["Location"].rsplit("/", 1)[1]))
    assert job.status == "done" and job.result["clean"]


# ------------------------------------------------------------------ reconciliation


def _planted(add_loans) -> tuple[list[list], list[dict]]:  # noqa: ANN001
    loans = add_loans("P-001", [date(2026, 7, 1) + timedelta(days=9 * i) for i in range(5)],
                      kind="ip_pledge")  # fmt: skip
    rows = [[0, f"企业{ln['ref']}", ln["uscc"], ln["amount"], ln["issued"], ln["matures"],
             ln["rate"], "流动资金", "到期一次还本付息"] for ln in loans]  # fmt: skip
    rows[0][3] += 10_000  # differs
    del rows[1]  # missing in the bank's table
    rows.append([0, "坏行", "123", -5, "2026-02-30", date(2027, 1, 1), 4, "x", ""])
    return rows, loans


def _expected(app, pool_id: int, data: bytes, name: str) -> dict:  # noqa: ANN001
    with app.app_context():
        pool = db.session.get(RiskPool, pool_id)
        rows, errors = pools.read_bank_table(name, data, "2026Q3")
        return pools.result_record(pools.reconcile(pool, "2026Q3", rows, errors), len(rows))


def test_the_result_is_kept_and_downloads_as_xlsx_and_csv(app, client, users, login, add_loans):
    rows, loans = _planted(add_loans)
    with app.app_context():
        from techfin.models import User

        op = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        pool_id = _make_pool(op, members=[ln["ref"] for ln in loans]).id
    data = _bank_file(rows, "xlsx")
    login("bank@ops.cn")  # the partner bank uploads; operators see it too
    resp = _post(client, f"/operations/pools/{pool_id}/reconcile", data, "q3.xlsx",
                 quarter="2026Q3")  # fmt: skip
    job_url = resp.headers["Location"]
    job = _job(app, int(job_url.rsplit("/", 1)[1]))
    assert job.status == "done"
    assert stored_uploads(app) == []  # the result is kept, the bank's file is not
    assert job.result == _expected(app, pool_id, data, "q3.xlsx")
    kinds = sorted(d["kind"] for d in job.result["discrepancies"])
    assert kinds == ["differs", "missing_in_bank"] and len(job.result["errors"]) >= 3
    login("op@ops.cn")
    html = client.get(job_url).get_data(as_text=True)
    assert 'id="disc-differs"' in html and 'id="row-errors"' in html and "download-xlsx" in html
    book = load_workbook(io.BytesIO(client.get(job_url + ".xlsx").data))
    cells = [[c for c in r if c is not None] for r in book.active.iter_rows(values_only=True)]
    flat = [str(c) for r in cells for c in r]
    assert any("2026Q3" in c for c in flat)
    assert loans[1]["uscc"] in flat and loans[0]["uscc"] in flat
    text = client.get(job_url + ".csv?lang=en").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][0] == "Finding"
    found = {line[0] for line in lines[1:]}
    assert {"Amounts or dates differ", "Missing from the bank's table",
            "Row with errors"} <= found  # fmt: skip
    login("vc@ops.cn")  # another institution: the pool and its results do not exist for it
    assert client.get(job_url).status_code == 404
    assert client.get(job_url + ".csv").status_code == 404


def test_reconciliation_through_a_real_worker_on_redis(app, client, users, login, add_loans):
    from tests.integration.matching.test_task_worker import REDIS, Worker

    rows, loans = _planted(add_loans)
    with app.app_context():
        from techfin.models import User

        op = db.session.execute(db.select(User).filter_by(email="op@ops.cn")).scalar_one()
        pool_id = _make_pool(op, members=[ln["ref"] for ln in loans]).id
    data = _bank_file(rows, "csv")
    name = f"techfin-uploads-{os.getpid()}"
    from techfin.tasks import configure, huey

    configure(REDIS, name)  # this test's app was made with the inline queue
    app.config.update(TASK_QUEUE_URL=REDIS, TASK_QUEUE_NAME=name)
    worker = Worker(app).start()
    try:
        login("op@ops.cn")
        started = time.monotonic()
        resp = _post(client, f"/operations/pools/{pool_id}/reconcile", data, "q3.csv",
                     quarter="2026Q3")  # fmt: skip
        assert time.monotonic() - started < 2.0 and resp.status_code == 302
        job_id = int(resp.headers["Location"].rsplit("/", 1)[1])
        deadline = time.monotonic() + 90
        while _job(app, job_id).status in ("queued", "running"):
            assert time.monotonic() < deadline, worker.stop()
            time.sleep(0.3)
        job = _job(app, job_id)
        assert job.status == "done", job.error
        assert job.result == _expected(app, pool_id, data, "q3.csv")
    finally:
        worker.kill()
        worker.log.unlink(missing_ok=True)
        huey.flush()
        configure("immediate")


@pytest.mark.app_config(**QUEUED)
def test_a_job_whose_wake_up_was_lost_is_queued_again_by_the_sweep(
    app, client, users, login, flush_queue
):
    from techfin.tasks import huey

    pool_id = _pool_id(app)
    login("op@ops.cn")
    resp = _post(client, f"/operations/pools/{pool_id}/reconcile", _bank_file([], "csv"),
                 "q3.csv", quarter="2026Q3")  # fmt: skip
    job_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    huey.flush()  # the message is lost; the row still says what is to be done
    with app.app_context():
        assert upload_jobs.requeue_stale() == []  # not stale yet
        job = db.session.get(UploadJob, job_id)
        job.created_at -= timedelta(minutes=10)
        db.session.commit()
        assert upload_jobs.requeue_stale() == [job_id]
    assert work_queue().count("process_upload") == 1
    assert _job(app, job_id).status == "done"
    with app.app_context():
        assert upload_jobs.process(job_id) == "not queued"  # a late duplicate does nothing


# ------------------------------------------------------------------ import


def _snapshot(app) -> list[dict]:  # noqa: ANN001
    from techfin.services.interchange import export_records

    with app.app_context():
        return sorted((dict(r) for r in export_records()), key=repr)


def _empty(app) -> None:  # noqa: ANN001
    from techfin.tools.empty_tables import empty_tables

    with app.app_context():
        db.session.remove()
        empty_tables(db)


@pytest.mark.parametrize("fmt", ["jsonl", "xlsx"])
def test_an_import_through_the_page_and_the_api_equals_the_cli(
    app, client, runner, add_user, login, tmp_path, fmt
):
    from techfin.services.interchange import export_file, import_file

    if fmt == "jsonl":
        source = SAMPLE
    else:  # the sample as a workbook, one sheet per type
        with app.app_context():
            import_file(SAMPLE)
            source = tmp_path / "sample.xlsx"
            export_file(source)
        _empty(app)
    cli = runner.invoke(args=["import-data", str(source)])
    assert cli.exit_code == 0, cli.output
    expected = _snapshot(app)
    assert expected
    for channel in ("page", "api"):
        _empty(app)
        add_user("op@imports.cn", "operator")
        if channel == "page":
            login("op@imports.cn")
            resp = _post(client, "/operations/imports", source.read_bytes(), f"sample.{fmt}")
            assert resp.status_code == 302
            html = client.get(resp.headers["Location"]).get_data(as_text=True)
            assert 'data-status="done"' in html and 'data-committed="1"' in html
        else:
            resp = _post(
                client,
                "/api/v1/imports",
                source.read_bytes(),
                f"s.{fmt}",
                headers=_token(app, "op@imports.cn"),
            )
            assert resp.status_code == 202
            body = client.get(f"/api/v1/imports/{resp.get_json()['id']}",
                              headers=_token(app, "op@imports.cn")).get_json()  # fmt: skip
            assert body["status"] == "done" and body["result"]["committed"]
            assert body["result"]["summary"].startswith("enterprise: ")
        assert _snapshot(app) == expected, channel


def test_an_import_with_errors_lists_them_and_imports_nothing_unless_asked(
    app, client, add_user, login
):
    add_user("op@imports.cn", "operator")
    lines = [
        '{"type": "enterprise", "ref": "E-OK", "name": "好企业", "industry": "C38", '
        '"region": "442000"}',
        '{"type": "enterprise", "ref": "E-BAD", "name": "坏企业", "industry": "C38", '
        '"region": "442000", "employees": "many"}',
    ]
    data = "\n".join(lines).encode()
    login("op@imports.cn")
    resp = _post(client, "/operations/imports", data, "two.jsonl")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'data-status="failed"' in html and 'data-committed="0"' in html
    assert 'data-location="line 2"' in html and "employees" in html
    assert "1 条记录有误，未导入任何数据" in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Enterprise.id))) == 0
    resp = _post(client, "/operations/imports", data, "two.jsonl", skip_invalid="y")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'data-status="done"' in html and 'data-location="line 2"' in html
    with app.app_context():
        refs = db.session.scalars(db.select(Enterprise.ref)).all()
    assert refs == ["E-OK"]


def test_imports_are_the_operators(app, client, users, login):
    login("bank@ops.cn")
    assert client.get("/operations/imports").status_code == 403
    resp = _post(client, "/operations/imports", SAMPLE.read_bytes(), "sample.jsonl")
    assert resp.status_code == 403
    resp = _post(
        client,
        "/api/v1/imports",
        SAMPLE.read_bytes(),
        "s.jsonl",
        headers=_token(app, "bank@ops.cn"),
    )
    assert resp.status_code == 403
    assert stored_uploads(app) == []
    resp = _post(client, "/api/v1/imports", b"x", "notes.txt", headers=_token(app, "op@ops.cn"))
    assert resp.status_code == 422 and "jsonl" in resp.get_json()["error"]["fields"]["file"][0]


def test_a_hostile_file_name_is_shown_escaped_and_a_huge_id_is_absent(app, client, add_user, login):
    """The uploaded file's name is the one text an uploader types into a job: the job pages
    and the list show it escaped (it has no place in the canary world of test_xss_canaries)."""
    add_user("op@imports.cn", "operator")
    login("op@imports.cn")
    name = "<img src=x onerror=alert(7)>.jsonl"  # no "/": a path part would be cut off
    resp = _post(client, "/operations/imports", SAMPLE.read_bytes(), name)
    for url in (resp.headers["Location"], "/operations/imports"):
        html = client.get(url).get_data(as_text=True)
        assert "<img src=x onerror=alert(7)>" not in html, url
        assert "&lt;img src=x onerror=alert(7)&gt;" in html, url
    token = _token(app, "op@imports.cn")
    for job_id in (2**31, 2**63, 10**30):  # past the column: absent, not a server error
        assert client.get(f"/api/v1/imports/{job_id}", headers=token).status_code == 404
