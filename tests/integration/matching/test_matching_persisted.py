"""Stored matches: refreshed on change, first_seen_at fixed, "new since" for digests."""

from __future__ import annotations

from datetime import datetime, timedelta

from techfin.extensions import db


def _rows(need_id: int) -> dict:
    rows = db.session.execute(select_matches(need_id)).scalars()
    return {(r.kind, r.product_id or r.funder_id): r for r in rows}


def select_matches(need_id: int):  # noqa: ANN201
    from techfin.models import Match

    return db.select(Match).where(Match.need_id == need_id)


def test_importing_data_stores_matches(ctx, users, get):
    with ctx():
        n1, p1 = get("need", "N-001"), get("product", "P-001")
        rows = _rows(n1.id)
        row = rows[("product", p1.id)]
        assert row.active and row.eligible and row.rank == 1
        assert row.funder_id == p1.funder_id and row.model_kind == "prior"
        assert row.reasons and {"code", "params"} <= set(row.reasons[0])
        assert _rows(get("need", "N-002").id) == {}  # E-002's equity draft: nothing fits


def test_refresh_keeps_first_seen_at(ctx, users, get):
    from techfin.models import Match
    from techfin.services import matching

    old = datetime(2026, 1, 1, 8, 0)
    with ctx():
        n1 = get("need", "N-001")
        db.session.execute(db.update(Match).values(first_seen_at=old, last_seen_at=old))
        db.session.commit()
        report = matching.refresh_all()
        assert report.updated >= 1 and report.inserted == 0
        (row,) = _rows(n1.id).values()
        assert row.first_seen_at == old and row.last_seen_at > old


def test_a_change_refreshes_and_a_pair_that_comes_back_is_not_new(ctx, users, get):
    from techfin.services import catalog, matching

    with ctx():
        e1, n1, p1 = get("user", "e1@x.cn"), get("need", "N-001"), get("product", "P-001").id
        first = _rows(n1.id)[("product", p1)].first_seen_at
        catalog.update_need(e1, n1, {"amount_cny": 80_000_000})  # far above P-001's cap
    with ctx():  # (the refresh runs when the context that made the change ends)
        row = _rows(get("need", "N-001").id)[("product", p1)]
        assert row.active and not row.eligible  # almost eligible: the amount is too high
        assert row.missing[0]["code"] == "amount_above_max"
        assert matching.need_match_count(get("need", "N-001")) == 0
        catalog.update_need(get("user", "e1@x.cn"), get("need", "N-001"), {"amount_cny": 5_000_000})
    with ctx():
        row = _rows(get("need", "N-001").id)[("product", p1)]
        assert row.active and row.eligible and row.first_seen_at == first
        assert matching.need_match_count(get("need", "N-001")) == 1


def test_product_and_patent_changes_refresh_the_needs_they_touch(ctx, users, get):
    from techfin.services import catalog

    with ctx():
        bank = get("user", "bank@x.cn")
        product = catalog.create_product(bank, get("funder", "F-001"), {
            "name": "科技成长贷", "kind": "ip_pledge", "max_amount_cny": 8_000_000,
            "requires_high_tech": True, "regions": ["4420"]})  # fmt: skip
        product_id, product_ref, need_id = product.id, product.ref, get("need", "N-001").id
    with ctx():
        assert _rows(need_id)[("product", product_id)].eligible
        catalog.update_product(get("user", "bank@x.cn"), get("product", product_ref),
                               {"requires_collateral": True})  # fmt: skip
    with ctx():
        row = _rows(need_id)[("product", product_id)]
        assert not row.eligible and row.missing[0]["code"] == "collateral_required"
        # the only granted invention patent goes: P-001 needs one, so it drops to "almost"
        catalog.delete_patent(get("user", "e1@x.cn"), get("patent", "PT-001"))
    with ctx():
        row = _rows(need_id)[("product", get("product", "P-001").id)]
        assert not row.eligible and row.missing[0]["code"] == "ip_required"


def test_a_page_request_that_publishes_a_need_refreshes_it(client, users, login, get, ctx):
    from techfin.services import catalog

    with ctx():
        need = catalog.create_need(get("user", "e1@x.cn"), get("enterprise", "E-001"), {
            "kind": "ip_pledge", "amount_cny": 3_000_000})  # a draft  # fmt: skip
        need_id = need.id
        from techfin.models import Match

        db.session.execute(db.delete(Match).where(Match.need_id == need_id))
        db.session.commit()
    login("e1@x.cn")
    assert client.post(f"/enterprise/needs/{need_id}/publish").status_code == 302
    with ctx():
        assert [k for k, r in _rows(need_id).items() if r.eligible] == [
            ("product", get("product", "P-001").id)
        ]


def test_new_matches_for_digests(ctx, users, get):
    from techfin.services import matching

    with ctx():
        from techfin.models.base import utcnow

        since, until = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
        ent = matching.new_matches_for_user(get("user", "e1@x.cn"), since, until)
        assert [i["ref"] for i in ent] == ["P-001"]
        assert ent[0]["path"].endswith(f"/needs/{get('need', 'N-001').id}/matches")
        assert ent[0]["title"] and ent[0]["reasons"] and 0 < ent[0]["score"] <= 1
        bank = matching.new_matches_for_user(get("user", "bank@x.cn"), since, until)
        assert [i["ref"] for i in bank] == ["N-001"]
        assert matching.new_matches_for_user(get("user", "vc@x.cn"), since, until) == []
        assert matching.new_matches_for_user(get("user", "e1@x.cn"), until, until) == []
        assert matching.new_matches_for_user(get("user", "e1@x.cn"), since, until,
                                             min_score=1.0) == []  # fmt: skip


def test_dashboard_shows_the_stored_count(client, users, login):
    login("e1@x.cn")
    # N-001 is funded in the sample, so it is listed with the needs, not as an open one
    html = client.get("/enterprise/needs").get_data(as_text=True)
    assert 'class="match-count">1<' in html


def test_full_refresh_clears_the_marks_it_made_obsolete_and_keeps_later_ones(ctx, users, get):
    """`flask matching refresh` ranks every need: the marks committed before it began are
    done with; one committed while it ran may name a change it did not see, so it stays."""
    from techfin.models import DirtyMark
    from techfin.services import matching

    with ctx():
        n1, n2 = get("need", "N-001").id, get("need", "N-002").id
        db.session.add_all([DirtyMark(kind="need", object_id=n1),
                            DirtyMark(kind="everything")])  # fmt: skip
        db.session.commit()

        def meanwhile(_done: int) -> None:
            with db.engine.begin() as conn:  # another transaction, committed mid-refresh
                conn.execute(db.insert(DirtyMark).values(kind="need", object_id=n2))

        report = matching.refresh_everything(meanwhile)
        left = db.session.execute(db.select(DirtyMark.kind, DirtyMark.object_id)).all()
        assert report.cleared == 2 and "2 stale mark(s) cleared" in report.summary()
        assert [tuple(r) for r in left] == [("need", n2)] * len(left) and left


def test_a_recompute_into_an_empty_table_builds_the_dealflow_indexes_after(ctx, users):
    """Into an empty matches table (the first recompute after an import) PostgreSQL's two
    ranked indexes are dropped while the rows go in and built afterwards (SQLite keeps
    them); a table with rows keeps them; a recompute that died between the two finds them
    missing and builds them first, on either database. The rows are those of an ordinary
    recompute either way."""
    from sqlalchemy import delete, func, inspect, select, text

    from techfin.models import Match
    from techfin.services import matching
    from techfin.services.matching.stored import DEFERRED_INDEXES, indexes_built_after

    def rows() -> list[tuple]:
        return sorted(
            db.session.execute(
                select(
                    Match.need_id,
                    Match.product_id,
                    Match.funder_id,
                    Match.score,
                    Match.rank,
                    Match.eligible,
                    Match.active,
                )  # fmt: skip
            ).all()
        )

    def present() -> set[str]:
        found = inspect(db.session.connection()).get_indexes("matches")
        return {ix["name"] for ix in found} & set(DEFERRED_INDEXES)

    def keys() -> set[str]:
        return {fk["name"] for fk in inspect(db.session.connection()).get_foreign_keys("matches")}

    all_keys = {str(c.name) for c in Match.__table__.foreign_key_constraints}

    def checked() -> set[str]:
        return set(db.session.scalars(text(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'matches'::regclass "
            "AND contype = 'f' AND convalidated")))  # fmt: skip

    def orphans() -> None:  # rows of a need deleted while its key was off
        gone = db.session.scalar(select(func.max(Match.need_id))) + 1000
        db.session.execute(
            text(
                "INSERT INTO matches (need_id, product_id, funder_id, kind, score, rank, "
                "eligible, active, model_kind, model_version, reasons, missing, "
                "first_seen_at, last_seen_at) SELECT :gone, product_id, funder_id, kind, "
                "score, rank, eligible, active, model_kind, model_version, reasons, "
                "missing, first_seen_at, last_seen_at FROM matches LIMIT 3"
            ),
            {"gone": gone},
        )

    with ctx():
        postgres = db.engine.dialect.name == "postgresql"
        matching.refresh_everything()
        before = rows()
        assert before and present() == set(DEFERRED_INDEXES)
        with indexes_built_after() as deferred:  # rows present: kept
            assert deferred is False and present() == set(DEFERRED_INDEXES)
        db.session.execute(delete(Match))
        db.session.commit()
        with indexes_built_after() as deferred:
            assert deferred is postgres
            assert present() == (set() if postgres else set(DEFERRED_INDEXES))
            if postgres:
                assert keys() == set()
        assert present() == set(DEFERRED_INDEXES)
        if postgres:
            assert keys() == all_keys and len(all_keys) == 3
        matching.refresh_everything()
        assert rows() == before and present() == set(DEFERRED_INDEXES)
        db.session.execute(text(f"DROP INDEX {DEFERRED_INDEXES[0]}"))  # died in between
        if postgres:  # … with the need key off, and a need's rows left by its deletion
            db.session.execute(text("ALTER TABLE matches DROP CONSTRAINT fk_matches_need_id_needs"))
            orphans()
        db.session.commit()
        assert present() == set(DEFERRED_INDEXES) - {DEFERRED_INDEXES[0]}
        matching.refresh_everything()
        assert present() == set(DEFERRED_INDEXES) and rows() == before
        if postgres:
            assert keys() == all_keys and checked() == all_keys
            # Killed after adding the key back NOT VALID, before the clean-up and check.
            db.session.execute(text("ALTER TABLE matches DROP CONSTRAINT fk_matches_need_id_needs"))
            orphans()
            db.session.execute(
                text("ALTER TABLE matches ADD CONSTRAINT fk_matches_need_id_needs FOREIGN KEY "
                     "(need_id) REFERENCES needs (id) ON DELETE CASCADE NOT VALID")
            )  # fmt: skip
            db.session.commit()
            assert checked() == all_keys - {"fk_matches_need_id_needs"}
            matching.refresh_everything()
            assert rows() == before and checked() == all_keys


def test_a_recompute_reads_and_writes_its_needs_rows_through_an_index(ctx, users):
    """Each chunk's look-ups of its own needs' stored rows (`need_id IN (…)`, `id IN (…)`)
    are planned on an index, however stale the table's statistics: right after an import
    PostgreSQL had analysed an empty table, estimated 200 ids to match every row and
    scanned the whole table once per chunk, so the first full recompute at region scale
    took 216 s instead of 121. (On a test-sized table a scan is the cheaper plan, so the
    chunk's own setting is what this sees.) Every statement is explained on the chunk's
    own connection, inside its transaction."""
    from sqlalchemy import event, text

    from techfin.services import matching

    plans: list[tuple[str, str]] = []
    explaining = False

    def explain(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        nonlocal explaining
        lookup = "need_id IN" in statement or "matches.id IN" in statement
        if explaining or executemany or "matches" not in statement or not lookup:
            return
        explaining = True
        try:
            postgres = conn.dialect.name == "postgresql"
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            plans.append((statement.split()[0], " | ".join(str(r[-1]) for r in rows)))
        finally:
            explaining = False

    with ctx():
        postgres = db.engine.dialect.name == "postgresql"
        if postgres:  # the state an import leaves: the table analysed while empty
            db.session.execute(text("DELETE FROM matches"))
            db.session.commit()
            db.session.execute(text("ANALYZE matches"))
            db.session.commit()
        matching.refresh_everything()  # rows to find and to deactivate
        event.listen(db.engine, "before_cursor_execute", explain)
        try:
            matching.refresh_everything()
        finally:
            event.remove(db.engine, "before_cursor_execute", explain)
    kinds = {kind for kind, _plan in plans}
    assert {"SELECT", "UPDATE"} <= kinds, plans
    scan = "Seq Scan on matches" if postgres else "SCAN matches"
    assert not [p for p in plans if scan in p[1]], plans


def test_the_collector_leaves_the_snapshot_alone_while_a_refresh_runs(ctx, users, monkeypatch):
    """A refresh ranks chunk after chunk with the snapshot, the model and jieba's dictionary
    alive all along: they are frozen (gc.freeze), so the collections its short-lived
    objects trigger do not walk them again; afterwards they are collectable again, and two
    refreshes under way at once (the worker's threads) unfreeze only when both are done."""
    import gc

    from techfin.services import matching
    from techfin.services.matching import stored

    frozen, real = [], stored._refresh_chunk

    def chunk(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        frozen.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    monkeypatch.setattr(stored, "_refresh_chunk", chunk)
    with ctx():
        matching.refresh_all()
        assert frozen and min(frozen) > 0
        assert gc.get_freeze_count() == 0
        with stored._long_lived_frozen():
            with stored._long_lived_frozen():
                pass
            assert gc.get_freeze_count() > 0  # the other refresh is still under way
        assert gc.get_freeze_count() == 0
