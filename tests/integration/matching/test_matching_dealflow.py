"""The ranked dealflow: published needs only, filters, and the pipeline of docking steps."""

from __future__ import annotations

import pytest

from techfin.extensions import db


def _need(ctx, get, status: str = "published", amount: int = 2_000_000) -> tuple[int, str]:
    from techfin.services import catalog

    with ctx():
        need = catalog.create_need(get("user", "e1@x.cn"), get("enterprise", "E-001"), {
            "kind": "ip_pledge", "amount_cny": amount, "term_months": 12,
            "purpose": "生产线升级", "status": status})  # fmt: skip
        return need.id, need.ref


def test_dealflow_shows_only_published_needs(client, users, login, get, ctx, page):
    draft_id, draft_ref = _need(ctx, get, "draft")
    login("bank@x.cn")
    html = page("/dealflow/matches")
    assert "N-001" in html and draft_ref not in html
    assert 'data-model-kind="prior"' in html
    # closing N-001 takes it off the list
    from techfin.services import lifecycle

    with ctx():
        lifecycle.close_need(get("user", "e1@x.cn"), get("need", "N-001"), "已获融资")
    assert "N-001" not in page("/dealflow/matches")
    del draft_id


def test_dealflow_filters(client, users, login, get, ctx, page):
    login("bank@x.cn")
    with ctx():
        p1 = get("product", "P-001").id
    assert "N-001" in page(f"/dealflow/matches?product_id={p1}&region=442000&min_score=1")
    assert "N-001" not in page("/dealflow/matches?region=510100")
    assert "N-001" not in page("/dealflow/matches?kind=loan")
    assert "N-001" not in page("/dealflow/matches?min_score=100")
    # a bad filter value is reported, not a server error
    assert page("/dealflow/matches?min_score=abc")


@pytest.mark.parametrize("asked", ["other", "abc", "999999"])
def test_a_product_not_the_institutions_is_refused_on_its_field(client, users, login, get, ctx,
                                                                 page, asked):  # fmt: skip
    """The service decides which products are the user's; the page says so on the field
    and ranks all of the user's own instead of another institution's."""
    login("bank@x.cn")
    with ctx():
        mine, other = get("product", "P-001").id, get("product", "P-002").id
    html = page(f"/dealflow/matches?product_id={other if asked == 'other' else asked}")
    assert "请选择本机构的产品。" in html and "is-invalid" in html  # zh-CN: the default
    assert "N-001" in html  # P-001's ranking: every product of the bank's
    assert f'<option value="{mine}"' in html and f'<option value="{other}"' not in html
    html = page(f"/dealflow/matches?product_id={mine}")
    assert "请选择本机构的产品。" not in html and "N-001" in html


def test_dealflow_pages_its_rows_and_offers_more(client, users, login, get, ctx, page,
                                                monkeypatch):  # fmt: skip
    """A page shows DEALFLOW_PAGE eligible rows (each with its step form: 55 of them were
    most of a loaded server's time at 100 000 enterprises) and a link for more."""
    import importlib
    import re

    # the module, not the package's re-exported function of the same name
    dealflow_module = importlib.import_module("techfin.services.matching.dealflow")

    _need(ctx, get)  # a second published need, so one page of one row leaves one out
    monkeypatch.setattr(dealflow_module, "DEALFLOW_PAGE", 1)
    login("bank@x.cn")
    html = page("/dealflow/matches")
    assert len(re.findall(r'class="dealflow-row', html)) == 1
    more = re.search(r'id="dealflow-more" href="([^"]+)"', html)
    assert more and "limit=31" in more.group(1)
    html = page(more.group(1).replace("&amp;", "&"))
    assert len(re.findall(r'class="dealflow-row', html)) >= 2
    assert 'id="dealflow-more"' not in html
    assert page("/dealflow/matches?limit=abc")  # a bad limit is the default page


def test_unverified_institutions_and_enterprises_get_no_dealflow(client, users, login):
    login("vc@x.cn")
    resp = client.get("/dealflow/matches")
    assert resp.status_code == 403 and "unverified-notice" in resp.get_data(as_text=True)
    login("e1@x.cn")
    assert client.get("/dealflow/matches").status_code == 403


def _stages(need_id: int, product_id: int) -> list[str]:
    from techfin.models import Outcome

    return list(
        db.session.execute(
            db.select(Outcome.stage)
            .where(Outcome.need_id == need_id, Outcome.product_id == product_id)
            .order_by(Outcome.id)
        ).scalars()
    )


def test_each_move_records_an_outcome(client, users, login, get, ctx, page):
    need_id, need_ref = _need(ctx, get)
    with ctx():
        product_id = get("product", "P-001").id
    login("bank@x.cn")
    assert need_ref in page("/dealflow/matches")

    def move(stage: str, **extra: str):
        data = {"need_id": need_id, "product_id": product_id, "stage": stage,
                "back": "/dealflow/matches", **extra}  # fmt: skip
        resp = client.post("/dealflow/matches/move", data=data)
        where = resp.headers["Location"].split("#")[0]  # a refused step comes back to its row
        assert resp.status_code == 302 and where.endswith("/dealflow/matches")

    move("funded")  # a funded step without its amount and loan terms: refused
    move("contacted", note="电话沟通")
    move("meeting")
    move("approved")
    move("funded", amount_cny="200")  # a loan needs rate, dates and repayment too: refused
    with ctx():
        assert _stages(need_id, product_id) == ["contacted", "meeting", "approved"]
    move("funded", amount_cny="200", rate="4.35", issued="2026-11-20", matures="2027-11-19",
         repayment="bullet")  # fmt: skip
    with ctx():
        from techfin.models import Outcome

        assert _stages(need_id, product_id) == ["contacted", "meeting", "approved", "funded"]
        funded = db.session.execute(
            db.select(Outcome).where(Outcome.need_id == need_id, Outcome.stage == "funded")
        ).scalar_one()
        assert (funded.amount_cny, funded.rate, funded.repayment) == (2_000_000, 4.35, "bullet")
        assert db.session.scalar(
            db.select(Outcome.note).where(Outcome.need_id == need_id, Outcome.stage == "contacted")
        ) == "电话沟通"  # fmt: skip
    row = page("/dealflow/matches?lang=en").split(f'data-need="{need_id}"')[1].split("</tr>")[0]
    assert "Funded" in row and "move-form" not in row


def test_moves_on_other_institutions_products_are_refused(client, users, login, get, ctx):
    need_id, _ref = _need(ctx, get)
    with ctx():
        from techfin.models import Funder

        db.session.get(Funder, get("funder", "F-002").id).status = "verified"
        db.session.commit()
        product_id = get("product", "P-001").id
    login("vc@x.cn")
    resp = client.post("/dealflow/matches/move", data={"need_id": need_id,
                                                        "product_id": product_id,
                                                        "stage": "contacted"})  # fmt: skip
    assert resp.status_code == 302
    with ctx():
        assert _stages(need_id, product_id) == []


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/x"])
def test_move_never_redirects_off_site(client, users, login, back):
    login("bank@x.cn")
    resp = client.post("/dealflow/matches/move", data={"back": back})
    assert resp.status_code == 302 and "evil" not in resp.headers["Location"]


def test_the_dealflow_reads_each_of_its_queries_from_one_index(app, sample_data):
    """At 100 000 enterprises an institution's dealflow read and sorted every stored pair
    of its ~70 products (1.2 s a page). With sorts and other scans made costly, the
    PostgreSQL planner must read a product's page from ix_matches_product_ranked and an
    institution's from ix_matches_funder_ranked, eligible pairs and near misses alike."""
    from sqlalchemy import select as sa_select
    from sqlalchemy import text

    from techfin.models import Product
    from techfin.services.matching.live import ranked_statement

    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        # The statement's shape is what is planned: one institution, several product ids.
        rows = list(db.session.execute(sa_select(Product.id, Product.funder_id)))
        products, funder_id = [pid for pid, _ in rows], rows[0][1]
        assert len(products) > 1
        cases = [(products[:1], None, "ix_matches_product_ranked"),
                 (products, funder_id, "ix_matches_funder_ranked")]  # fmt: skip
        for ids, funder, index in cases:
            for eligible in (True, False):
                stmt = ranked_statement(ids, eligible, 50, funder_id=funder)
                sql = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
                if postgres:
                    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                        db.session.execute(text(f"SET LOCAL {setting} = off"))
                    plan = "\n".join(db.session.execute(text(f"EXPLAIN {sql}")).scalars())
                else:  # SQLite's planner, the embedded default, must pick the same index
                    found = db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
                    plan = "\n".join(str(row[-1]) for row in found)
                db.session.rollback()
                assert index in plan, plan


def test_rows_sharing_a_step_form_each_carry_their_own_pair(client, users, login, get, ctx, page):
    """A row's step form is rendered once per page for each (next stages, need kind) and
    the pair's ids put in: every row still posts its own need and product, its fieldset and
    labels have its own ids, and a row whose step was refused keeps what was typed."""
    import re

    from techfin.services.matching.dirty import process_dirty

    ids = [_need(ctx, get, amount=a)[0] for a in (1_500_000, 2_500_000, 3_000_000)]
    with ctx():
        product = get("product", "P-001").id
        process_dirty(5)
    login("bank@x.cn")
    html = page(f"/dealflow/matches?product_id={product}")
    assert "__NEED__" not in html and "__PRODUCT__" not in html
    rows = re.findall(r'<tr class="dealflow-row[^"]*" id="pair-(\d+)-(\d+)".*?</tr>', html, re.S)
    bodies = html.split('<tr class="dealflow-row')[1:]
    assert {int(n) for n, _p in rows} >= set(ids)
    forms = 0
    for (need, prod), body in zip(rows, bodies, strict=True):
        if "move-form" not in body:
            continue
        forms += 1
        assert (
            f'name="need_id" value="{need}"' in body and f'name="product_id" value="{prod}"' in body
        )
        assert f'data-funded-toggle="f-{need}-{prod}"' in body
        if "funded-fields" in body:
            assert f'id="f-{need}-{prod}"' in body and f'for="f-{need}-{prod}-amount_cny"' in body
    assert forms >= 3
    # A refused step (the funded one without its terms) keeps its row's own typed note.
    resp = client.post("/dealflow/matches/move", data={
        "need_id": ids[1], "product_id": product, "stage": "funded", "note": "待补利率",
        "back": f"/dealflow/matches?product_id={product}"})  # fmt: skip
    html = page(resp.headers["Location"].split("#")[0])
    row = html.split(f'id="pair-{ids[1]}-{product}"')[1].split("</tr>")[0]
    assert "move-refused" in row and 'value="待补利率"' in row
    other = html.split(f'id="pair-{ids[0]}-{product}"')[1].split("</tr>")[0]
    assert "move-refused" not in other and "待补利率" not in other


def test_the_product_filter_follows_product_changes_at_once(client, users, login, get, ctx, page):
    """The filter's products come from the in-memory catalogue: a product added, renamed,
    retired or deleted is in (or out of) the very next page, in name order."""
    from techfin.services import catalog

    login("bank@x.cn")
    assert "科技成长贷" not in page("/dealflow/matches")
    with ctx():
        bank = get("user", "bank@x.cn")
        new = catalog.create_product(bank, get("funder", "F-001"), {
            "name": "科技成长贷", "kind": "ip_pledge", "max_amount_cny": 8_000_000})  # fmt: skip
        new_id, new_ref, mine = new.id, new.ref, get("product", "P-001")
        mine_id, mine_name = mine.id, mine.name
    html = page("/dealflow/matches")
    assert f'<option value="{new_id}">科技成长贷 · ' in html
    names = sorted([mine_name, "科技成长贷"])
    assert html.index(f"{names[0]} · ") < html.index(f"{names[1]} · ")
    with ctx():
        catalog.update_product(get("user", "bank@x.cn"), get("product", new_ref),
                               {"name": "科技成长贷二期"})  # fmt: skip
    assert "科技成长贷二期 · " in page(f"/dealflow/matches?product_id={new_id}")
    with ctx():
        catalog.update_product(get("user", "bank@x.cn"), get("product", new_ref),
                               {"status": "retired"})  # fmt: skip
    html = page(f"/dealflow/matches?product_id={new_id}")
    assert f'<option value="{new_id}"' not in html and "请选择本机构的产品。" in html
    with ctx():
        catalog.delete_product(get("user", "bank@x.cn"), get("product", new_ref))
    html = page("/dealflow/matches")
    assert f'<option value="{new_id}"' not in html and f'<option value="{mine_id}"' in html


def test_an_institutions_every_product_leaves_out_retired_ones_and_mandates(users, get, ctx):
    """An institution's dealflow over all its products is read down its funder index
    without a list of its products (see ranked_statement): rows of a product it retired
    that are still stored, and its mandates' rows (no product), must stay out of it."""
    from datetime import datetime

    from sqlalchemy import update

    from techfin.models import Match, Product
    from techfin.services import catalog
    from techfin.services import matching as service
    from techfin.services.matching.live import ranked_statement

    with ctx():
        bank = get("user", "bank@x.cn")
        for name in ("科技成长贷", "科技成长贷二期"):
            catalog.create_product(bank, get("funder", "F-001"), {
                "name": name, "kind": "ip_pledge", "max_amount_cny": 8_000_000})  # fmt: skip
    with ctx():
        bank = get("user", "bank@x.cn")
        # more than one product left after one is retired: the funder index's statement
        assert len(service.dealflow_products(bank)) > 2
        rows = service.dealflow(bank).rows
        assert rows and {r.need["ref"] for r in rows} >= {"N-001"}
        shown = rows[0]
        funder_id = db.session.get(Product, shown.product["id"]).funder_id
        # A mandate's row of this institution, ranked above everything.
        now = datetime(2026, 12, 1)
        db.session.add(Match(need_id=shown.need["id"], product_id=None, funder_id=funder_id,
                             kind="equity", score=0.999, rank=1, eligible=True, active=True,
                             model_kind="prior", model_version="prior", reasons=[], missing=[],
                             first_seen_at=now, last_seen_at=now))  # fmt: skip
        db.session.commit()
        again = service.dealflow(bank).rows
        assert [(r.need["id"], r.product["id"]) for r in again] == [
            (r.need["id"], r.product["id"]) for r in rows
        ]
        # What the statement itself reads (the page also drops rows it cannot show).
        kept = [p.id for p in service.dealflow_products(bank)]
        read = db.session.execute(ranked_statement(kept, True, 50, funder_id=funder_id)).all()
        assert read and {m.product_id for m, _n, _e in read} <= set(kept)
        # The product is retired behind the recompute's back: its rows are still active.
        db.session.execute(
            update(Product).where(Product.id == shown.product["id"]).values(status="retired")
        )
        db.session.commit()
        left = service.dealflow(bank).rows
        assert all(r.product["id"] != shown.product["id"] for r in left)
        kept = [p.id for p in service.dealflow_products(bank)]
        stmt = ranked_statement(kept, True, 50, funder_id=funder_id,
                                excluded=(shown.product["id"],))  # fmt: skip
        read = db.session.execute(stmt).all()
        assert read and {m.product_id for m, _n, _e in read} <= set(kept)
        assert "product_id IN" not in str(stmt)
