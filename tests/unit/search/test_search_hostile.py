"""Hostile or broken input never raises and never reaches Whoosh's query parser."""

from __future__ import annotations

import pytest
from search_corpus import OPERATOR

from techfin.search import SearchEngine

HOSTILE = [
    '"芯片',
    '芯片"""\'',
    "((((芯片",
    "芯片]]]}}}",
    "title:芯片",
    "body:x OR type:need",
    "ref:N2",
    "*",
    "*" * 5000,
    "?" * 5000,
    "芯*片?",
    "a" * 10_000,
    "芯片" * 5000,
    "\x00",
    "芯\x00片",
    "\x01\x02\x1b[31m芯片",
    "AND OR NOT",
    "NOT 芯片",
    "芯片 ^3 ~2",
    "\\",
    "%_'; DROP TABLE need; --",
    "<script>alert(1)</script>",
    "🚀芯片🔥",
    "\u202e片芯",
    "\ufeff\u200b",
    "\ud800",
    " ",
    "",
    None,
    12345,
    b"\xff\xfe",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_answer_cleanly(engine: SearchEngine, query: object) -> None:
    result = engine.search(query, OPERATOR, per_page=5)
    assert set(result) >= {"items", "facets", "total", "suggestion"}
    assert isinstance(result["total"], int)
    for item in result["items"]:
        assert "<script" not in item["highlight"]


def test_field_syntax_is_plain_text(engine: SearchEngine) -> None:
    # "ref:N2" must not be read as a field query that finds the hidden draft.
    result = engine.search("ref:N2", {"role": "enterprise", "org_id": 101, "verified": False})
    assert result["total"] == 0


def test_bad_arguments_are_tolerated(engine: SearchEngine) -> None:
    result = engine.search(
        "芯片", OPERATOR, sort="drop table", page=-3, per_page=10_000, filters={"nope": 1}
    )
    assert result["page"] == 1 and result["per_page"] == 100
    assert result["total"] == 3
    assert engine.search("芯片", OPERATOR, filters={"min_amount": "lots"})["total"] == 3
