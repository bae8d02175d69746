"""A need's matches read from its stored ranking while that is current (#12): the same
entries as ranking it live, and ranked live as soon as anything that ranks it changed."""

from __future__ import annotations

import re

import pytest

from techfin.extensions import db

DOCTORED = 0.4242  # a score no ranking gives: seen on a page only if read from the row


def _published(ctx) -> list[int]:
    from techfin.models import Need

    with ctx():
        return list(db.session.execute(
            db.select(Need.id).where(Need.status == "published").order_by(Need.id)
        ).scalars())  # fmt: skip


def _both(need_id: int, **kw) -> tuple[dict | None, dict]:
    from techfin.models import Need
    from techfin.services.matching.live import _Ask, _from_stored, _ranked_live
    from techfin.services.matching.snapshot import scorer, snapshot

    need = db.session.get(Need, need_id)
    args = (need, snapshot(), scorer(), _Ask(kw["n"], kw["locale"], kw["mandates"], kw["almost"]))
    return _from_stored(*args), _ranked_live(*args)


@pytest.mark.parametrize("model", ["prior", "learned"])
def test_a_current_stored_ranking_is_the_ranking_made_now(app, runner, demo, ctx, model):
    from techfin.services import matching

    if model == "learned":
        result = runner.invoke(args=["matching", "train", "--force"])
        assert result.exit_code == 0 and "saved model" in result.output, result.output
    with ctx():
        matching._state().store.refresh()
        assert matching.model_info()["kind"] == model
        matching.refresh_everything()
        assert matching.pending_marks() == 0
    compared = fixed = mandates = 0
    with ctx():
        for need_id in _published(ctx)[:60]:
            for kw in ({"n": 20, "locale": "zh_CN", "mandates": True, "almost": True},
                       {"n": 5, "locale": "en", "mandates": False, "almost": True},
                       {"n": 20, "locale": "en", "mandates": True, "almost": False}):  # fmt: skip
                stored, live = _both(need_id, **kw)
                if not live["matches"]:
                    continue  # nothing ranks: no rows are stored, and the need is ranked live
                if stored is None:
                    # Only when products were asked for without funds, and funds took
                    # places among the near misses kept: the next ones were not stored.
                    assert not kw["mandates"] and _funds_among_near_misses(need_id)
                    continue
                assert stored == live, (need_id, kw)
                compared += 1
                fixed += sum(m.get("score_if_fixed") is not None for m in live["matches"])
                mandates += sum(m["type"] == "mandate" for m in live["matches"])
    # The comparison covered near misses with odds once fixed, and funds as a whole.
    assert compared > 60 and fixed > 0 and mandates > 0, (compared, fixed, mandates)


def _funds_among_near_misses(need_id: int) -> bool:
    from techfin.models import Match
    from techfin.services.matching.common import ALMOST

    kinds = db.session.execute(
        db.select(Match.kind).where(Match.need_id == need_id, Match.active.is_(True),
                                    Match.eligible.is_(False))
    ).scalars().all()  # fmt: skip
    return len(kinds) >= ALMOST and "mandate" in kinds


def _doctor(need_id: int, **values) -> None:
    from techfin.models import Match

    db.session.execute(db.update(Match).where(Match.need_id == need_id).values(**values))
    db.session.commit()


def _scores(user_email: str, need_ref: str, get) -> set[float]:
    from techfin.services import matching

    result = matching.matches_for_need(get("user", user_email), get("need", need_ref), 20)
    return {m["score"] for m in result["matches"]}


def test_the_page_reads_the_rows_until_its_need_changes(ctx, users, get, login, page):
    from techfin.models import DirtyMark
    from techfin.services import matching

    with ctx():
        n1 = get("need", "N-001")
        need_id, enterprise_id = n1.id, n1.enterprise_id
        assert matching.pending_marks() == 0 and _scores("e1@x.cn", "N-001", get) != {DOCTORED}
        _doctor(n1.id, score=DOCTORED)
        # Read from the rows: no candidate was ranked for it.
        assert _scores("e1@x.cn", "N-001", get) == {DOCTORED}
    login("e1@x.cn")
    # The page shows the row's score (the Prior's: a badge in percent).
    assert re.findall(r'match-score" title="[^"]*">(\d+)<', page(f"/needs/{need_id}/matches")) == [
        "42"
    ]
    with ctx():
        # A change waits for the worker: the page ranks the need itself meanwhile.
        db.session.add(DirtyMark(kind="need", object_id=need_id))
        db.session.commit()
        assert DOCTORED not in _scores("e1@x.cn", "N-001", get)
        matching.process_dirty()
        assert matching.pending_marks() == 0
        assert DOCTORED not in _scores("e1@x.cn", "N-001", get)  # recomputed rows
        _doctor(need_id, score=DOCTORED)
        # Its enterprise's change (patents, certification) and a product's ranks it too.
        for kind, object_id in (("enterprise", enterprise_id), ("product", None)):
            mark = DirtyMark(kind=kind, object_id=object_id)
            db.session.add(mark)
            db.session.commit()
            assert DOCTORED not in _scores("e1@x.cn", "N-001", get), kind
            db.session.delete(mark)
            db.session.commit()
            assert _scores("e1@x.cn", "N-001", get) == {DOCTORED}


def test_rows_of_another_model_are_not_shown(ctx, users, get):
    with ctx():
        n1 = get("need", "N-001")
        _doctor(n1.id, score=DOCTORED, model_version="prior-0")
        assert DOCTORED not in _scores("e1@x.cn", "N-001", get)
        _doctor(n1.id, model_version="prior-1")
        assert _scores("e1@x.cn", "N-001", get) == {DOCTORED}


def test_a_near_miss_keeps_its_score_once_fixed(ctx, users, get):
    from techfin.models import Match
    from techfin.services import catalog, matching

    with ctx():
        catalog.update_need(get("user", "e1@x.cn"), get("need", "N-001"),
                            {"amount_cny": 80_000_000})  # fmt: skip
    with ctx():  # (the refresh runs when the context that made the change ends)
        n1, p1 = get("need", "N-001"), get("product", "P-001")
        row = db.session.execute(
            db.select(Match).where(Match.need_id == n1.id, Match.product_id == p1.id)
        ).scalar_one()
        assert not row.eligible and row.missing[0]["code"] == "amount_above_max"
        assert row.score_if_fixed is not None and row.score_if_fixed > row.score
        (entry,) = matching.matches_for_need(get("user", "e1@x.cn"), n1, 20)["matches"]
        assert entry["score_if_fixed"] == round(row.score_if_fixed, 4) and entry["fixable"]


def test_more_than_were_kept_are_ranked_live(app, demo, ctx, monkeypatch):
    """A need's rows hold its KEEP best: asking for fewer is read from them, asking for
    more ranks it (the next ones were never stored)."""
    from techfin.models import Match
    from techfin.services import matching
    from techfin.services.matching import live, stored

    monkeypatch.setattr(stored, "KEEP", 3)
    monkeypatch.setattr(live, "KEEP", 3)
    with ctx():
        matching.refresh_everything()
        assert matching.pending_marks() == 0
        full = db.session.execute(
            db.select(Match.need_id).where(Match.active.is_(True), Match.eligible.is_(True),
                                           Match.kind == "product")
            .group_by(Match.need_id).having(db.func.count() == 3)
        ).scalars().all()  # fmt: skip
        assert full, "the demo data has needs with more than three eligible products"
        checked = 0
        for need_id in full[:10]:
            ask = {"locale": "zh_CN", "mandates": True, "almost": True}
            stored_two, live_two = _both(need_id, n=2, **ask)
            assert stored_two is not None and stored_two == live_two
            stored_five, live_five = _both(need_id, n=5, **ask)
            assert stored_five is None
            eligible = [m for m in live_five["matches"] if m["eligible"]]
            if len(eligible) > 3:  # it had more than were kept: the page shows them all
                checked += 1
        assert checked, "some need had more eligible products than were kept"
