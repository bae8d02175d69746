"""The digest run's match lookup: a whole batch in a few queries, same items as one by one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

NOW_OFFSET = timedelta(days=7)


def _make_accounts(make_user, n: int) -> list[int]:
    """n subscribers over every kind of reader: enterprise owners of a published and a draft
    need, the verified bank, the unverified VC, an operator."""
    kinds = [("enterprise", "E-001"), ("enterprise", "E-002"), ("bank", "F-001"),
             ("investor", "F-002"), ("operator", None)]  # fmt: skip
    return [make_user(f"s{i}@x.cn", *kinds[i % len(kinds)]) for i in range(n)]


def _prepare_counting(app, ids: list[int], source=None) -> tuple[int, list]:  # noqa: ANN001
    """Statements one batch's preparation (users, settings, ledger, windows, items) runs."""
    from techfin.extensions import db
    from techfin.services import digests

    with app.app_context():
        now = digests.utcnow() + NOW_OFFSET
        start, end = digests.window_for("weekly", now)
        statements = []

        def count(*_args: object) -> None:
            statements.append(_args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            batch = digests._prepare(ids, "weekly", start, end, now, 900,
                                     source or digests._default_items(), digests.RunReport("t"),
                                     False)  # fmt: skip
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements), [(d.user.email, d.items) for d in batch]


def test_a_batch_looks_its_matches_up_in_a_constant_number_of_queries(app, sample_data, make_user):
    """Were the lookup to query per user again (the snapshot's fingerprint, lazy need /
    product / funder / organisation loads, sharing rules), statements would grow with the
    batch: 5 subscribers and 25 must cost the same few."""
    from techfin.services import matching

    ids = _make_accounts(make_user, 25)
    with app.app_context():
        matching.refresh_all()
    small, small_batch = _prepare_counting(app, ids[:5])
    large, large_batch = _prepare_counting(app, ids)
    assert large == small <= 14, (small, large)
    got = {email: items for email, items in large_batch}
    assert len(got) == 25
    # The path is the real one: the enterprises and the bank do get their match.
    assert [i["ref"] for i in got["s0@x.cn"]] == ["P-001"]
    assert [i["ref"] for i in got["s2@x.cn"]] == ["N-001"]
    assert got["s1@x.cn"] == [] and got["s3@x.cn"] == []  # a draft need; an unverified VC
    assert got["s4@x.cn"] and got["s4@x.cn"][0]["path"] == "/operations/dashboard"


def test_an_institutions_matches_are_read_and_checked_once_per_run(app, sample_data, make_user):
    """Members of one institution in two batches of a run: the second batch reuses its
    rows and sharing checks (fewer statements) and still gets what asking alone gives."""
    from techfin.extensions import db
    from techfin.models import User
    from techfin.services import digests, matching

    ids = _make_accounts(make_user, 10)
    with app.app_context():
        matching.refresh_all()
    source = digests._default_items()
    first, first_batch = _prepare_counting(app, ids[:5], source)
    second, second_batch = _prepare_counting(app, ids[5:], source)
    assert second < first
    got = dict(second_batch)
    assert [i["ref"] for i in got["s7@x.cn"]] == ["N-001"]  # the bank, second batch
    with app.app_context():
        now = digests.utcnow() + NOW_OFFSET
        start, end = digests.window_for("weekly", now)
        for email in ("s5@x.cn", "s7@x.cn"):
            user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
            assert got[email] == matching.new_matches_for_user(user, start, end)


def _row_reasons(need_ref: str, locale: str, hidden: frozenset[str]) -> list[str]:
    from techfin.extensions import db
    from techfin.models import Match, Need

    row = db.session.execute(
        db.select(Match).join(Need, Match.need_id == Need.id).where(Need.ref == need_ref)
    ).scalar_one()
    from techfin.services.matching import _render

    return _render(row, locale, hidden)


@pytest.mark.parametrize(
    ("shared", "secret"), [(None, False), ((True, False), False), ((True, True), False),
                           ((True, True), True)]
)  # fmt: skip
def test_batch_items_equal_one_by_one_with_each_users_own_window_score_scope_and_sharing(
    app, ctx, users, get, shared, secret
):
    """One batch mixes users with different windows, thresholds and scopes; each gets what
    asking alone gives, and the bank reads only the reasons E-001 shares with it."""
    from techfin.extensions import db
    from techfin.models import SharingRule
    from techfin.models.base import utcnow
    from techfin.services import access, matching

    with ctx():
        if shared is not None:
            db.session.add(SharingRule(enterprise_id=get("enterprise", "E-001").id,
                                       funder_id=get("funder", "F-001").id,
                                       financials=shared[0], patents=shared[1]))  # fmt: skip
            db.session.commit()
        if secret:  # a granted confidential patent: its reasons stay hidden whatever is shared
            get("patent", "PT-002").status = "granted"
            db.session.commit()
        since, until = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
        e1, bank = get("user", "e1@x.cn"), get("user", "bank@x.cn")
        n1, p1 = get("need", "N-001").id, get("product", "P-001").id
        Q = matching.NewMatchQuery  # noqa: N806
        queries = [
            Q(e1, since, until), Q(bank, since, until), Q(get("user", "vc@x.cn"), since, until),
            Q(get("user", "op@x.cn"), since, until), Q(e1, until, until + timedelta(hours=1)),
            Q(e1, since, until, min_score=1.0), Q(e1, since, until, scope_ids=(n1 + 999,)),
            Q(e1, since, until, scope_ids=(n1,)), Q(bank, since, until, scope_ids=(p1 + 999,)),
            Q(bank, since, until, locale="en"),
        ]  # fmt: skip
        together = matching.new_matches_for_users(queries)
        alone = [
            matching.new_matches_for_user(q.user, q.since, q.until, min_score=q.min_score,
                                          scope_ids=list(q.scope_ids or []), locale=q.locale)
            for q in queries
        ]  # fmt: skip
        assert together == alone
        refs = [[i["ref"] for i in items] for items in together]
        assert refs == [["P-001"], ["N-001"], [], [], [], [], [], ["P-001"], [], ["N-001"]]
        # The bank reads only what access.sharing allows, and never a confidential patent.
        e1_org, bank_org = get("enterprise", "E-001").id, get("funder", "F-001").id
        financials, patents = access.sharing(e1_org, bank_org)
        hidden = set()
        if not financials:
            hidden |= matching.FINANCIAL_REASONS
        if not patents or secret:
            hidden |= matching.PATENT_REASONS
        assert together[1][0]["reasons"] == _row_reasons("N-001", "zh_CN", frozenset(hidden))
        everything = _row_reasons("N-001", "zh_CN", frozenset())
        assert together[0][0]["reasons"] == everything
        if shared is None or secret:
            assert len(together[1][0]["reasons"]) < len(everything)


def test_each_item_says_what_made_it_new_for_its_reader(app, sample_data, make_user):
    """A new product, the enterprise's own new patent (never a confidential one), a new need
    for the bank, or simply newly ranked: the digest line says which, in the reader's
    language."""
    from techfin.extensions import db
    from techfin.models import Need, Organization, Patent, Product, User
    from techfin.models.matching import Match
    from techfin.services import digests, matching

    make_user("e1@x.cn", "enterprise", "E-001")
    make_user("bank@x.cn", "bank", "F-001")
    with app.app_context():
        matching.refresh_all()
        e1 = db.session.execute(db.select(User).filter_by(email="e1@x.cn")).scalar_one()
        bank = db.session.execute(db.select(User).filter_by(email="bank@x.cn")).scalar_one()
        seen = db.session.execute(
            db.select(Match.first_seen_at).join(Product).where(Product.ref == "P-001")
        ).scalar_one()
        since, until = seen - timedelta(days=1), digests.utcnow() + timedelta(minutes=1)

        def changes(user, locale="en"):  # noqa: ANN001, ANN202
            items = matching.new_matches_for_user(user, since, until, locale=locale)
            return {i["ref"]: i["change"] for i in items}

        # Everything was just created: the product is what is new to the enterprise, the
        # need to the bank.
        assert changes(e1)["P-001"] == "new product"
        assert changes(e1, "zh_CN")["P-001"] == "新产品"
        assert changes(bank)["N-001"] == "new financing need"

        # The catalogue is old; E-001 added a (public) patent just before the pair ranked.
        old = since - timedelta(days=30)
        for model in (Product, Need, Organization, Patent):
            db.session.execute(db.update(model).values(created_at=old))
        patent = db.session.execute(
            db.select(Patent).join(Organization, Patent.enterprise_id == Organization.id)
            .where(Organization.ref == "E-001", Patent.confidential.is_(False))
        ).scalars().first()  # fmt: skip
        patent.created_at = seen - timedelta(minutes=1)
        db.session.commit()
        assert changes(e1)["P-001"] == "your new patent raised this match"
        assert changes(e1, "zh_CN")["P-001"] == "您新增的专利提升了这条匹配"
        assert changes(bank)["N-001"] == "newly ranked"  # the bank is told of no patent

        # A confidential patent is never named as the cause.
        patent.confidential = True
        db.session.commit()
        assert changes(e1)["P-001"] == "newly ranked"
