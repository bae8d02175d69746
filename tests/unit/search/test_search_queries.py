"""Queries, facets, sorting, paging, highlights and suggestions over the sample corpus."""

from __future__ import annotations

from collections import Counter

import pytest
from search_corpus import DOCS, OPERATOR, indexable

from techfin.search import SearchEngine


def refs(result: dict) -> set[str]:
    return {item["ref"] for item in result["items"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("芯片", {"E2", "N2", "N3"}),
        ("LED 照明", {"E1", "N1", "CN201710601862.3"}),
        ("led照明", {"E1", "N1", "CN201710601862.3"}),
        ("ＬＥＤ", {"E1", "N1", "P3", "CN201710601862.3"}),
        ("知识产权质押融资", {"N1", "P1"}),
        ("质押", {"N1", "P1"}),
        ("物联网", {"E2"}),
        ("专精特新", {"E1"}),
        ("创业投资", {"F1", "N3"}),
        ("风险准备金", {"P2"}),
        ("灯", {"E1", "CN201710601862.3"}),
        ("具", {"E1", "CN201710601862.3"}),  # a lone character last in a run
        ("照明灯", {"CN201710601862.3"}),  # jieba: 照明灯 / 具 — glued, not a lone 具
        ("lighting", {"P3"}),
        ("Financing", {"P3"}),
        ("明辉 散热", {"CN201710601862.3"}),
        ("中山农商银行", {"P1", "P2"}),
        ("深圳 芯片 设计", {"E2", "N3"}),
        ("芯片 不存在的词", set()),
    ],
)
def test_query_table(engine: SearchEngine, query: str, expected: set[str]) -> None:
    result = engine.search(query, OPERATOR, per_page=50)
    assert refs(result) == expected
    assert result["total"] == len(expected)


def test_title_hits_rank_first(engine: SearchEngine) -> None:
    result = engine.search("芯片", OPERATOR)
    assert result["items"][0]["ref"] in {"N2", "N3"}  # 芯片 in the title counts 3×
    assert result["items"][-1]["ref"] == "E2" or len(result["items"]) == 3


def test_type_filter_and_facets_match_direct_counts(engine: SearchEngine) -> None:
    docs = indexable(DOCS)
    result = engine.search("", OPERATOR, per_page=100)
    assert result["total"] == len(docs)
    assert result["facets"]["type"] == dict(Counter(d["type"] for d in docs))
    assert result["facets"]["region"] == dict(Counter(d["region"] for d in docs if d.get("region")))
    assert result["facets"]["province"] == dict(
        Counter(d["region"][:2] for d in docs if d.get("region"))
    )
    assert result["facets"]["city"] == dict(
        Counter(d["region"][:4] for d in docs if d.get("region"))
    )
    assert result["facets"]["section"] == dict(
        Counter(d["industry"][0] for d in docs if d.get("industry"))
    )
    needs = engine.search("", OPERATOR, type="need", per_page=100)
    assert needs["total"] == sum(1 for d in docs if d["type"] == "need")
    assert needs["facets"]["type"] == {"need": needs["total"]}
    assert needs["facets"]["status"] == dict(
        Counter(d["status"] for d in docs if d["type"] == "need")
    )


def test_facet_filters(engine: SearchEngine) -> None:
    docs = indexable(DOCS)
    result = engine.search("", OPERATOR, filters={"city": "4420", "kind": "loan"}, per_page=100)
    expected = {
        d["ref"] for d in docs if d.get("region", "").startswith("4420") and d.get("kind") == "loan"
    }
    assert refs(result) == expected
    result = engine.search("", OPERATOR, filters={"section": "C", "industry": ["c39"]})
    assert refs(result) == {"E2", "N2", "N3"}
    assert engine.search("", OPERATOR, filters={"stage": "nonexistent"})["total"] == 0


def test_amount_range(engine: SearchEngine) -> None:
    docs = indexable(DOCS)
    result = engine.search("", OPERATOR, min_amount=5_000_000, max_amount=10_000_000, per_page=50)
    assert refs(result) == {
        d["ref"] for d in docs if d.get("amount") and 5_000_000 <= d["amount"] <= 10_000_000
    }
    via_filters = engine.search("", OPERATOR, filters={"min_amount": 20_000_000}, per_page=50)
    assert refs(via_filters) == {"E2", "N3", "F1"}


def test_empty_query_lists_newest_first(engine: SearchEngine) -> None:
    result = engine.search("   ", OPERATOR, per_page=3)
    assert [i["ref"] for i in result["items"]] == ["N3", "N2", "N1"]


def test_sort_by_amount_and_paging(engine: SearchEngine) -> None:
    first = engine.search("", OPERATOR, sort="amount", per_page=2, page=1)
    second = engine.search("", OPERATOR, sort="amount", per_page=2, page=2)
    assert [i["ref"] for i in first["items"]] == ["F1", "N3"]
    assert [i["ref"] for i in second["items"]] == ["E2", "P1"]
    assert engine.search("", OPERATOR, page=99)["items"] == []
    asc = engine.search("", OPERATOR, sort="amount_asc", per_page=1)
    assert asc["items"][0]["ref"] == "P3"


def test_highlight_marks_hits_and_escapes_html(engine: SearchEngine) -> None:
    item = engine.search("lighting", OPERATOR)["items"][0]
    assert "<mark>lighting</mark>" in item["highlight"]
    assert "&lt;b&gt;fast&lt;/b&gt; &amp; simple" in item["highlight"]
    assert "<b>" not in item["highlight"]
    e2 = [i for i in engine.search("芯片", OPERATOR)["items"] if i["ref"] == "E2"][0]
    assert e2["highlight"].count("<mark>芯片</mark>") == 3
    assert e2["type"] == "enterprise" and e2["id"] == 2 and e2["title"] == "深圳芯锐半导体有限公司"


@pytest.mark.parametrize(
    ("typo", "fixed"),
    [("芯偏", "芯片"), ("物连网", "物联网"), ("ligting", "light"), ("finacing", "financ")],
)
def test_did_you_mean(engine: SearchEngine, typo: str, fixed: str) -> None:
    result = engine.search(typo, OPERATOR)
    assert result["total"] == 0
    assert result["suggestion"] is not None and fixed in result["suggestion"]


def test_no_suggestion_when_hits(engine: SearchEngine) -> None:
    assert engine.search("芯片", OPERATOR)["suggestion"] is None


def test_confidential_never_indexed(engine: SearchEngine) -> None:
    assert engine.search("朱雀", OPERATOR)["total"] == 0
    assert engine.search("保密芯片封装工艺", OPERATOR)["total"] == 0
    assert engine.doc_count() == len(indexable(DOCS))


def test_match_keys_agrees_with_search(engine: SearchEngine) -> None:
    keys = engine.match_keys("芯片", OPERATOR)
    assert sorted(keys) == [("enterprise", 2), ("need", 2), ("need", 3)]
    assert engine.match_keys("芯片", {"role": "enterprise", "org_id": 101}) == []
