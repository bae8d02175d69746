"""The per-process snapshot: what a write makes it rebuild, and batched sharing rules."""

from __future__ import annotations


def test_an_outcome_refreshes_the_history_but_keeps_the_vectorised_catalogue(ctx, users, get):
    from techfin.services import catalog, matching

    with ctx():
        before = matching.snapshot()
        need, product = get("need", "N-001"), get("product", "P-001")
        catalog.record_outcome(get("user", "op@x.cn"), need, product, {"stage": "contacted"})
        after = matching.snapshot()
        assert after.key != before.key
        assert after.candidates is before.candidates  # not re-read nor re-vectorised
        assert len(after.outcomes) == len(before.outcomes) + 1
        pairs = {(o["need_id"], o["product_id"], o["stage"]) for o in after.outcomes}
        assert (need.id, product.id, "contacted") in pairs
        catalog.update_need(get("user", "e1@x.cn"), need, {"purpose": "扩大产能购置设备"})
        rebuilt = matching.snapshot()
        assert rebuilt.candidates is not after.candidates  # a need changed: full rebuild
        assert rebuilt.need_by_id[need.id]["purpose"] == "扩大产能购置设备"
        assert len(rebuilt.outcomes) == len(after.outcomes)


def test_preloaded_sharing_rules_agree_with_access_sharing(ctx, users, get):
    from techfin.services import access, catalog, matching

    with ctx():
        bank, e1 = get("user", "bank@x.cn"), get("user", "e1@x.cn")
        ent, funder = get("enterprise", "E-001"), get("funder", "F-001")
        snap = matching.snapshot()
        ids = sorted({n["enterprise"]["id"] for n in snap.need_by_id.values()})
        cases = [
            (None, True, True),  # every funder may read everything
            (funder.id, False, True),  # ... but this bank's own rule wins
        ]
        for target, financials, patents in cases:
            catalog.set_sharing(e1, ent, target, financials=financials, patents=patents)
            batched = matching._Visibility(bank, snap)
            batched.preload(ids)
            for eid in ids:
                one = matching._Visibility(bank, snap)
                assert batched.hidden(eid) == one.hidden(eid), eid
            assert access.sharing(ent.id, funder.id) == (financials, patents)
        assert batched.hidden(ent.id) == matching.FINANCIAL_REASONS
