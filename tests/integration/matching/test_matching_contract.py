"""matches_for_need / matches_for_product: the API contract's shape, and who may ask."""

from __future__ import annotations

import pytest

from techfin.errors import Forbidden, NotFound
from techfin.extensions import db


def _assert_entry(entry: dict, side: str) -> None:
    assert 0.0 <= entry["score"] <= 1.0
    assert isinstance(entry["reasons"], list) and all(isinstance(r, str) for r in entry["reasons"])
    assert isinstance(entry["missing"], list)
    assert bool(entry["missing"]) == (not entry["eligible"])
    record = entry[side]
    assert {"id", "ref", "name"} <= set(record)
    if side == "product":
        assert {"id", "ref", "name", "kind"} <= set(record["funder"])


def test_matches_for_need_has_the_contract_shape(ctx, users, get):
    from techfin.services import matching

    with ctx():
        result = matching.matches_for_need(get("user", "e1@x.cn"), get("need", "N-001"), 10)
    assert result["model"] == {"kind": "prior", "version": "prior-1"}
    assert [m["product"]["ref"] for m in result["matches"]] == ["P-001"]
    top = result["matches"][0]
    _assert_entry(top, "product")
    assert top["eligible"] and top["missing"] == []
    assert top["product"]["funder"]["ref"] == "F-001"
    assert top["reasons"], "an eligible match explains itself"


def test_almost_eligible_entries_say_what_is_missing(ctx, users, get):
    from techfin.services import catalog, matching

    with ctx():
        e1 = get("user", "e1@x.cn")
        need = catalog.create_need(e1, get("enterprise", "E-001"), {
            "kind": "ip_pledge", "amount_cny": 20_000_000, "term_months": 12,
            "purpose": "扩产", "status": "published"})  # fmt: skip
        result = matching.matches_for_need(e1, need, 10, locale="en")
    (entry,) = result["matches"]
    _assert_entry(entry, "product")
    assert not entry["eligible"]
    assert any("maximum" in m for m in entry["missing"])  # over P-001's 1 000 万元 cap


def test_matches_for_product_lists_published_needs(ctx, users, get):
    from techfin.services import matching

    with ctx():
        result = matching.matches_for_product(get("user", "bank@x.cn"), get("product", "P-001"))
    assert result["model"]["kind"] == "prior"
    (entry,) = result["matches"]
    _assert_entry(entry, "need")
    assert entry["need"]["ref"] == "N-001"
    assert entry["need"]["enterprise"]["ref"] == "E-001"


def test_limit_and_ordering(ctx, users, get):
    from techfin.services import catalog, matching

    with ctx():
        e1, ent = get("user", "e1@x.cn"), get("enterprise", "E-001")
        bank, f1 = get("user", "bank@x.cn"), get("funder", "F-001")
        for i, top in enumerate((8_000_000, 9_000_000, 30_000_000)):
            catalog.create_product(bank, f1, {"name": f"专利贷 {i}", "kind": "ip_pledge",
                                              "min_amount_cny": 1_000_000,
                                              "max_amount_cny": top, "requires_patent": True})  # fmt: skip
        result = matching.matches_for_need(e1, get("need", "N-001"), 2)
        everything = matching.matches_for_need(e1, get("need", "N-001"), 100)
        del ent
    assert len(result["matches"]) == 2
    scores = [m["score"] for m in everything["matches"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4
    assert [m["score"] for m in result["matches"]] == scores[:2]


@pytest.mark.parametrize(
    ("email", "error"),
    [("e2@x.cn", NotFound), ("bank@x.cn", Forbidden), ("vc@x.cn", NotFound)],
)
def test_only_the_owner_and_operators_see_a_needs_matches(ctx, users, get, email, error):
    from techfin.services import matching

    with ctx():
        with pytest.raises(error):
            matching.matches_for_need(get("user", email), get("need", "N-001"))
        operator = matching.matches_for_need(get("user", "op@x.cn"), get("need", "N-001"))
    assert operator["matches"]


def test_product_matches_only_for_the_owning_institution(ctx, users, get):
    from techfin.models import Funder
    from techfin.services import matching

    with ctx():
        p1 = get("product", "P-001")
        with pytest.raises(Forbidden):  # a marketplace product, not theirs
            matching.matches_for_product(get("user", "e1@x.cn"), p1)
        with pytest.raises(Forbidden):
            matching.matches_for_product(get("user", "vc@x.cn"), p1)
        assert matching.matches_for_product(get("user", "op@x.cn"), p1)["matches"]
        # F-002 is unverified: its own product gets no needs at all
        vc = get("user", "vc@x.cn")
        assert matching.matches_for_product(vc, get("product", "P-002"))["matches"] == []
        db.session.get(Funder, get("funder", "F-002").id).status = "verified"
        db.session.commit()
        with pytest.raises(NotFound):  # another unverified institution's hidden product
            funder = get("funder", "F-001")
            funder.status = "pending"
            db.session.commit()
            matching.matches_for_product(vc, p1)


def test_institutions_do_not_read_unshared_financials_or_patents_in_reasons(ctx, users, get):
    from techfin.services import catalog, matching

    with ctx():
        bank, e1 = get("user", "bank@x.cn"), get("user", "e1@x.cn")
        snap = matching.snapshot()
        ent = get("enterprise", "E-001")
        assert matching._Visibility(bank, snap).hidden(ent.id) == (
            matching.FINANCIAL_REASONS | matching.PATENT_REASONS
        )
        catalog.set_sharing(e1, ent, None, financials=True, patents=True)
        assert matching._Visibility(bank, snap).hidden(ent.id) == frozenset()
        catalog.create_patent(e1, ent, {"number": "201810601862.8", "title": "保密发明",
                                        "kind": "invention", "status": "granted",
                                        "confidential": True, "valuation_cny": 1_000_000})  # fmt: skip
        seen = matching._Visibility(bank, matching.snapshot())
        assert seen.hidden(ent.id) == matching.PATENT_REASONS
        assert matching._Visibility(get("user", "op@x.cn"), snap).hidden(ent.id) == frozenset()
