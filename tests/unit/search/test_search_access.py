"""Access filtering happens inside the query: hidden documents leave no trace."""

from __future__ import annotations

import pytest
from search_corpus import (
    ANON,
    BANK_201,
    DOCS,
    ENT_101,
    ENT_102,
    ENT_103,
    OPERATOR,
    VC_202,
    VC_202_UNVERIFIED,
    indexable,
)

from techfin.search import SearchEngine

ALL = {d["ref"] for d in indexable(DOCS)}
PUBLIC = {d["ref"] for d in indexable(DOCS) if d["visibility"] == "public"}
INSTITUTIONS = {d["ref"] for d in indexable(DOCS) if d["visibility"] == "institutions"}


def visible(engine: SearchEngine, viewer: dict | None, q: str = "") -> set[str]:
    result = engine.search(q, viewer, per_page=100)
    assert result["total"] == len(result["items"])
    assert sum(result["facets"].get("type", {}).values()) == result["total"]
    return {i["ref"] for i in result["items"]}


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        (OPERATOR, ALL),
        (ANON, PUBLIC),
        (None, PUBLIC),
        ({"role": "hacker", "org_id": 102}, PUBLIC),
        # enterprise 101: public + its own (institutions-visible) docs, never 102's
        (ENT_101, PUBLIC | {"E1", "N1", "CN201710601862.3"}),
        # enterprise 102: public + its own docs incl. the draft and the restricted need
        (ENT_102, PUBLIC | {"E2", "N2", "N3"}),
        # enterprise 103 owns an operator-only note: operators only, not even the owner
        (ENT_103, PUBLIC),
        (BANK_201, PUBLIC | INSTITUTIONS),
        (VC_202, PUBLIC | INSTITUTIONS | {"N3"}),
        (VC_202_UNVERIFIED, PUBLIC),
    ],
)
def test_who_sees_what(engine: SearchEngine, viewer: dict | None, expected: set[str]) -> None:
    assert visible(engine, viewer) == expected


@pytest.mark.parametrize(
    "query", ["芯片流片贷款（草稿）", "芯片流片贷款", "青龙", "秘密项目代号青龙", "流片", "draft"]
)
def test_enterprise_never_finds_anothers_draft(engine: SearchEngine, query: str) -> None:
    for viewer in (ENT_101, BANK_201, VC_202, ANON):
        result = engine.search(query, viewer)
        assert "N2" not in {i["ref"] for i in result["items"]}
        assert "draft" not in result["facets"].get("status", {})
        assert all("青龙" not in i["highlight"] for i in result["items"])
    assert "N2" in visible(engine, ENT_102, query if query != "draft" else "流片")


def test_restricted_doc_only_for_owner_shared_and_operator(engine: SearchEngine) -> None:
    query = "芯片设计企业股权融资"
    assert "N3" in visible(engine, ENT_102, query)
    assert "N3" in visible(engine, VC_202, query)
    assert "N3" in visible(engine, OPERATOR, query)
    for viewer in (ENT_101, BANK_201, VC_202_UNVERIFIED, ANON):
        assert visible(engine, viewer, query) == set()
        assert engine.search(query, viewer)["facets"] == {}


def test_counts_and_facets_exclude_hidden(engine: SearchEngine) -> None:
    chips = engine.search("芯片", BANK_201)
    assert chips["total"] == 1  # E2 only; the draft N2 and restricted N3 are not counted
    assert chips["facets"]["type"] == {"enterprise": 1}


def test_suggestion_never_reveals_hidden_words(engine: SearchEngine) -> None:
    # 青笼 is one edit from 青龙, which only occurs in 102's draft.
    assert engine.search("青笼", ENT_101)["suggestion"] is None
    assert engine.search("青笼", ENT_102)["suggestion"] == "青龙"


def test_verified_must_be_true(engine: SearchEngine) -> None:
    truthy_string = {"role": "institution", "org_id": 202, "verified": "yes"}
    assert visible(engine, truthy_string) == PUBLIC
