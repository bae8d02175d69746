"""The reference pickers' lookup route searches the full tables by name (issue #14)."""

from __future__ import annotations

import pytest

from techfin.extensions import db
from techfin.models import Enterprise


@pytest.mark.parametrize(
    ("query", "code"),
    [("照明", "C3872"), ("半导体", "C3972"), ("锁具", "C3351"), ("软件", "I65"), ("3911", "C3911")],
)
def test_industry_picker_finds_classes_by_name(client, query, code):
    items = client.get("/reference/industries", query_string={"q": query}).get_json()
    assert code in [i["code"] for i in items]
    assert all(set(i) == {"code", "label"} for i in items)


def test_region_picker_finds_counties(client):
    items = client.get("/reference/regions", query_string={"q": "深圳 南山"}).get_json()
    assert items[0] == {"code": "440305", "label": "广东省 深圳市 南山区 · 440305"}
    items = client.get("/reference/regions", query_string={"q": "武侯"}).get_json()
    assert items[0]["code"] == "510107"


def test_pickers_answer_a_page_not_the_table(client):
    # 3 200 regions: the route answers a short list, never the whole table.
    items = client.get("/reference/regions", query_string={"q": "区"}).get_json()
    assert 0 < len(items) <= 50


def test_profile_form_takes_a_class_and_a_county_typed_by_hand(app, client, users, login, body):
    # Without JavaScript the pickers are plain inputs: "3911" and "110100" as a register writes.
    login("e1@x.cn")
    resp = client.post("/enterprise/profile", data={
        "name": "中山市明辉照明科技有限公司", "uscc": "91442000MA4UH1234Y", "industry": "3911",
        "region": "110100", "founded": "2012-05-18", "employees": "86", "revenue_cny": "4200",
        "total_assets_cny": "3000", "high_tech": "y", "stage": "growth", "description": "x",
        "contact_email": "info@minghui.example.cn"})  # fmt: skip
    assert resp.status_code == 302, body(resp)
    with app.app_context():
        e = db.session.execute(db.select(Enterprise).filter_by(ref="E-001")).scalar_one()
        assert (e.industry, e.region) == ("C3911", "110000")
    text = body(client.get("/enterprise/profile"))
    assert "计算机整机制造" in text and "北京市" in text
