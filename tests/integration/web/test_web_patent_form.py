"""/enterprise/patents/new: optional valuation, messages in the reader's language, one
application number once per enterprise (page, API, import and the database itself)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from techfin.extensions import db
from techfin.models import Patent

NEW = {"number": "201810123456.5", "title": "散热结构", "kind": "invention",
       "status": "granted", "filed": "2018-07-01", "granted": "2019-02-01",
       "valuation_cny": "", "abstract": ""}  # fmt: skip


def test_empty_valuation_is_saved_as_not_valued(app, client, users, login, body):
    login("e1@x.cn")
    resp = client.post("/enterprise/patents/new", data=NEW)
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        patent = db.session.execute(db.select(Patent).filter_by(title="散热结构")).scalar_one()
        assert patent.valuation_cny is None
    form = body(client.get("/enterprise/patents/new?lang=en"))
    assert "leave it empty when the patent has not been valued" in form


@pytest.mark.parametrize(
    ("lang", "shown", "hidden"),
    [("zh_CN", "本企业已登记该专利", "already has this patent"),
     ("en", "This enterprise already has this patent", "本企业已登记该专利")],
)  # fmt: skip
def test_the_same_number_twice_is_refused_in_the_readers_language(
    client, users, login, body, invalid, lang, shown, hidden
):
    login("e1@x.cn")
    client.get(f"/enterprise/patents?lang={lang}")
    # PT-001 of E-001 has 201710601862.3 (written here in its other form)
    text = body(client.post("/enterprise/patents/new",
                            data={**NEW, "number": "CN201710601862.3"}))  # fmt: skip
    assert shown in text and hidden not in text
    assert invalid(text, "number")
    assert "Field may not be null" not in text


def test_another_enterprise_may_record_the_same_number(app, client, users, login):
    login("e2@x.cn")
    assert client.post("/enterprise/patents/new",
                       data={**NEW, "number": "201710601862.3"}).status_code == 302  # fmt: skip


def test_renumbering_onto_an_existing_number_is_refused(app, client, users, login, body, ids):
    login("e1@x.cn")
    pid = ids("patent", "PT-002")
    text = body(client.post(f"/enterprise/patents/{pid}/edit", data={
        **NEW, "number": "201710601862.3", "kind": "invention", "status": "pending",
        "granted": ""}))  # fmt: skip
    assert "本企业已登记该专利" in text
    with app.app_context():
        assert db.session.get(Patent, pid).number == "202120123456.2"


def test_status_label_says_granted_not_grant_date(client, users, login, body):
    login("e1@x.cn")
    form = body(client.get("/enterprise/patents/new?lang=zh_CN"))
    assert '<option value="granted">已授权</option>' in form
    assert "授权日" in form  # the date field keeps its own label


def test_import_refuses_a_second_ref_for_the_same_number(app, users):
    from techfin.services import interchange

    record = {"type": "patent", "ref": "PT-NEW", "enterprise_ref": "E-001",
              "number": "201710601862.3", "title": "重复", "kind": "invention",
              "status": "pending"}  # fmt: skip
    with app.app_context():
        report = interchange.import_records([("row 1", record)], skip_invalid=True)
        assert [(e.field, "本企业已登记该专利" in e.reason) for e in report.errors] == [
            ("number", True)
        ]
        assert db.session.execute(db.select(Patent).filter_by(ref="PT-NEW")).first() is None
        # the same ref again (an unchanged re-import) is not a duplicate of itself
        again = interchange.import_records(
            [("row 1", {**record, "ref": "PT-001", "title": "一种 LED 调光驱动电路"})],
            skip_invalid=True,
        )
        assert again.errors == []


def test_the_database_refuses_the_duplicate_too(app, users):
    with app.app_context():
        first = db.session.execute(db.select(Patent).filter_by(ref="PT-001")).scalar_one()
        db.session.add(Patent(ref="PT-DUP", enterprise_id=first.enterprise_id,
                              number=first.number, title="x", kind="invention",
                              status="pending"))  # fmt: skip
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize(
    ("lang", "text"), [("zh_CN", "申请号表明类型为发明专利"), ("en", "The number is an invention")]
)
def test_a_kind_the_number_contradicts_is_named_not_coded(client, users, login, body, lang, text):
    login("e1@x.cn")
    client.get(f"/enterprise/patents?lang={lang}")
    page = body(client.post("/enterprise/patents/new", data={**NEW, "kind": "design"}))
    assert text in page and "类型为 invention" not in page
