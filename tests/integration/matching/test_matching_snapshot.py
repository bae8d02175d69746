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


def test_the_task_worker_rereads_track_records_at_most_every_ttl_and_commands_always(
    app, ctx, users, get
):
    """The `worker` command's tasks rank with track records up to MATCHING_HISTORY_TTL
    old, as pages do (they re-read them for every task while steps were being recorded:
    190 ms a recompute at region scale); any other command reads the latest outcomes."""
    import time
    from dataclasses import replace

    from techfin.services import catalog, matching, pipeline

    app.config["MATCHING_HISTORY_TTL"] = 3600
    try:
        with ctx():
            need, product = get("need", "N-001"), get("product", "P-001")
            pipeline.reopen(get("user", "op@x.cn"), need, product, "放款撤销")
            loaded = matching.snapshot()  # a command: the latest outcomes
            catalog.record_outcome(get("user", "op@x.cn"), need, product, {"stage": "meeting"})
            assert matching.snapshot().history is not loaded.history
            app.extensions[matching.WORKER_FLAG] = True  # what `flask worker` sets
            loaded = matching.snapshot()
            catalog.record_outcome(get("user", "op@x.cn"), need, product, {"stage": "approved"})
            assert matching.snapshot() is loaded  # within the TTL: the same track records
            matching._state().snapshot = replace(loaded, history_at=time.monotonic() - 7200)
            assert matching.snapshot().history is not loaded.history  # past it: re-read
    finally:
        app.extensions.pop(matching.WORKER_FLAG, None)
        app.config["MATCHING_HISTORY_TTL"] = 0


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


def test_track_records_collapsed_by_the_database_equal_the_library_s(app, demo):
    """load_history collapses each pair's steps in one grouped query (a web worker re-reads
    the track records as outcomes move): the same decisions as history.pair_labels over
    every step, on PostgreSQL and SQLite alike, a reopened ending, a pair approved after a
    decline and a step on a pair without a decision included."""
    from datetime import date, timedelta

    from sqlalchemy import select

    from techfin.extensions import db
    from techfin.matching import History, pair_labels
    from techfin.models import Enterprise, Need, Outcome
    from techfin.models.base import utcnow
    from techfin.services.matching.snapshot import load_history, load_outcomes, snapshot

    with app.app_context():
        decided = (
            db.session.execute(select(Outcome).where(Outcome.stage == "declined").limit(2))
            .scalars()
            .all()
        )
        assert len(decided) == 2
        decided[0].reopened_at = utcnow()  # its ending no longer counts
        later = Outcome(need_id=decided[1].need_id, product_id=decided[1].product_id,
                        stage="approved", date=decided[1].date + timedelta(days=3))  # fmt: skip
        db.session.add(later)
        db.session.commit()
        products = snapshot().product_by_id
        needs = {
            nid: {"id": nid, "enterprise": {"id": eid, "industry": industry}}
            for nid, eid, industry in db.session.execute(
                select(Need.id, Enterprise.id, Enterprise.industry).join(
                    Enterprise, Need.enterprise_id == Enterprise.id
                )
            )
        }
        expected = History.from_labels(pair_labels(load_outcomes()), needs, products)
        got = load_history(products)
        assert got.n_decisions == expected.n_decisions > 50
        assert set(got._tracks) == set(expected._tracks)
        days = sorted({o.date for o in db.session.execute(select(Outcome)).scalars()})
        for as_of in [*days[:: max(1, len(days) // 12)], date.today() + timedelta(days=1)]:
            for funder_id, section in expected._tracks:
                assert got.stats(funder_id, section, as_of) == expected.stats(
                    funder_id, section, as_of
                ), (funder_id, section, as_of)
