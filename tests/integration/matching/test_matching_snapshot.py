"""The per-process snapshot: what a write makes it rebuild, and batched sharing rules."""

from __future__ import annotations


def test_an_outcome_refreshes_the_history_and_a_need_edit_rebuilds_nothing(ctx, users, get):
    from techfin.services import catalog, matching, pipeline

    with ctx():
        need, product = get("need", "N-001"), get("product", "P-001")
        # the sample's N-001 × P-001 deal was funded: it takes a step once reopened
        pipeline.reopen(get("user", "op@x.cn"), need, product, "放款撤销")
        before = matching.snapshot()
        catalog.record_outcome(get("user", "op@x.cn"), need, product, {"stage": "meeting"})
        after = matching.snapshot()
        assert after.history is not before.history  # the track records follow outcomes
        assert after.candidates is before.candidates  # not re-read nor re-vectorised
        # A need (or enterprise) is not in the snapshot at all: editing one rebuilds nothing,
        # and its live ranking reads the new text at once.
        catalog.update_need(get("user", "e1@x.cn"), need, {"purpose": "扩大产能购置设备"})
        assert matching.snapshot() is after
        assert matching.need_records([need.id])[need.id]["purpose"] == "扩大产能购置设备"
        # A product change rebuilds the catalogue.
        catalog.update_product(get("user", "bank@x.cn"), product, {"name": "科技贷二号"})
        rebuilt = matching.snapshot()
        assert rebuilt.candidates is not after.candidates
        assert rebuilt.product_by_id[product.id]["name"] == "科技贷二号"


def test_preloaded_sharing_rules_agree_with_access_sharing(ctx, users, get):
    from sqlalchemy import select

    from techfin.extensions import db
    from techfin.models import Enterprise
    from techfin.services import access, catalog, matching

    with ctx():
        bank, e1 = get("user", "bank@x.cn"), get("user", "e1@x.cn")
        ent, funder = get("enterprise", "E-001"), get("funder", "F-001")
        snap = matching.snapshot()
        ids = sorted({e.id for e in db.session.execute(select(Enterprise)).scalars()})
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
