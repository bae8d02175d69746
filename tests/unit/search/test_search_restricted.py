"""Restricted fields: a viewer outside their audience gets answers independent of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from techfin.search import SearchEngine

BANK = {"role": "institution", "org_id": 201, "verified": True}
OTHER_BANK = {"role": "institution", "org_id": 202, "verified": True}
OWNER = {"role": "enterprise", "org_id": 101}
OPERATOR = {"role": "operator"}


def _docs(revenue: int, size: str) -> list[dict[str, Any]]:
    canary = {
        "type": "enterprise", "id": 101, "ref": "E1", "title": "明辉照明", "body": "LED 灯饰",
        "org_id": 101, "visibility": "institutions", "size": size, "amount": revenue,
        "date": "2026-01-01", "restricted": ["amount", "size"],
        "restricted_visibility": "owner", "restricted_shared_with": [202],
    }  # fmt: skip
    others = [
        {"type": "enterprise", "id": 100 + i, "ref": f"E{i}", "title": f"企业{i}", "body": "照明",
         "org_id": 100 + i, "visibility": "institutions", "size": "small", "amount": i * 10**7,
         "date": f"2026-0{i}-01", "restricted": ["amount", "size"],
         "restricted_visibility": "institutions"}
        for i in range(2, 6)
    ]  # fmt: skip
    return [canary, *others]


def _engine(path: Path, revenue: int, size: str) -> SearchEngine:
    eng = SearchEngine(path)
    eng.rebuild(_docs(revenue, size), upto_seq=0)
    return eng


PROBES: list[dict[str, Any]] = [
    {"min_amount": lo, "max_amount": hi}
    for lo in (None, 0, 1, 3 * 10**7, 10**8)
    for hi in (None, 2 * 10**7, 5 * 10**7, 10**12)
] + [
    {"filters": {"size": s}} for s in ("micro", "small", "medium")
] + [{"sort": s} for s in ("amount", "amount_asc", "date", "relevance")]  # fmt: skip


def _answers(eng: SearchEngine, viewer: dict[str, Any]) -> list[Any]:
    out = []
    for probe in PROBES:
        res = eng.search("", viewer, per_page=100, **probe)
        out.append((res["items"], res["facets"], res["total"]))
    return out


def test_answers_do_not_depend_on_a_hidden_value(tmp_path: Path) -> None:
    a = _engine(tmp_path / "a", 12_345_678, "micro")
    b = _engine(tmp_path / "b", 40_000_000, "medium")
    assert _answers(a, BANK) == _answers(b, BANK)
    # …while those allowed to see it get different answers.
    for viewer in (OWNER, OTHER_BANK, OPERATOR):
        assert _answers(a, viewer) != _answers(b, viewer)


def test_hidden_values_are_absent_for_filters_facets_and_sort(tmp_path: Path) -> None:
    eng = _engine(tmp_path / "ix", 25_000_000, "medium")
    refs = lambda **kw: [i["ref"] for i in eng.search("", BANK, per_page=100, **kw)["items"]]  # noqa: E731
    assert "E1" in refs()
    assert "E1" not in refs(min_amount=0) and "E1" not in refs(max_amount=10**15)
    assert refs(filters={"size": "medium"}) == []
    assert eng.search("", BANK)["facets"]["size"] == {"small": 4}
    assert refs(sort="amount") == ["E5", "E4", "E3", "E2", "E1"]
    assert refs(sort="amount_asc") == ["E2", "E3", "E4", "E5", "E1"]
    # The bank it is shared with, the owner and operators use the value.
    for viewer in (OTHER_BANK, OWNER, OPERATOR):
        got = eng.search("", viewer, per_page=100, min_amount=2 * 10**7, max_amount=2.9e7)
        want = {"E1"} if viewer is OWNER else {"E1", "E2"}
        assert {i["ref"] for i in got["items"]} == want
        size = eng.search("", viewer, filters={"size": "medium"})
        assert [i["ref"] for i in size["items"]] == ["E1"]


@pytest.mark.parametrize("viewer", [BANK, OTHER_BANK, OWNER])
def test_unrestricted_documents_filter_as_before(tmp_path: Path, viewer: dict[str, Any]) -> None:
    eng = SearchEngine(tmp_path / "ix")
    doc = {"type": "need", "id": 7, "ref": "N7", "title": "流动资金", "org_id": 101,
           "visibility": "institutions", "amount": 5_000_000, "size": "small"}  # fmt: skip
    eng.rebuild([doc], upto_seq=0)
    assert eng.search("", viewer, min_amount=1, max_amount=10**7)["total"] == 1
    assert eng.search("", viewer, filters={"size": "small"})["total"] == 1


def test_rows_indexed_before_restrictions_fail_closed(tmp_path: Path) -> None:
    from dataclasses import replace

    from techfin.search import engine as engine_module

    eng = SearchEngine(tmp_path / "ix")
    eng.rebuild([], upto_seq=0)
    doc = {"type": "enterprise", "id": 101, "ref": "E1", "title": "明辉照明", "org_id": 101,
           "visibility": "institutions", "size": "small", "amount": 42_317_000}  # fmt: skip
    item = engine_module._prepare(doc)
    # The meta column as the previous version wrote it: 13 fields, no restriction ones.
    legacy = engine_module._SEP.join(item.fields["meta"].decode().split(engine_module._SEP)[:13])
    eng._direct(item.key, replace(item, fields={**item.fields, "meta": legacy.encode()}))
    assert eng.search("", BANK)["total"] == 1  # the document itself stays visible
    assert eng.search("", BANK, min_amount=0)["total"] == 0
    assert eng.search("", BANK, filters={"size": "small"})["total"] == 0
    assert eng.search("", OWNER, min_amount=0)["total"] == 1
    assert eng.search("", OPERATOR, filters={"size": "small"})["total"] == 1
