"""The reference pickers' lookup route searches the full tables by name (issue #14)."""

from __future__ import annotations

import pytest


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
