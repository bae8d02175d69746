"""Ids are never reused (SQLite AUTOINCREMENT, migration 0008) and history stays with its owner."""

from __future__ import annotations

from datetime import timedelta

from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text

from techfin.extensions import db
from techfin.models import NEVER_REUSED_IDS, AuditEntry, Need, Organization, User
from techfin.services import accounts, audit, workspace

# Tables with their own integer id that may reuse ids, and why that is harmless for them.
EXEMPT = {
    "matches": "derived and rebuilt; its id is never shown or referred to",
    "audit_entries": "append-only log",
    "data_access_log": "append-only log",
    "digest_deliveries": "append-only log",
}


def _own_id_tables() -> set[str]:
    out = set()
    for name, table in db.metadata.tables.items():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and not pk[0].foreign_keys and isinstance(pk[0].type, db.Integer):
            out.add(name)
    return out


def test_every_table_with_its_own_id_is_listed_or_exempt(app):
    with app.app_context():
        own = _own_id_tables()
    assert own == set(NEVER_REUSED_IDS) | set(EXEMPT), (
        "a new table: add it to techfin.models.NEVER_REUSED_IDS (and a migration) or to EXEMPT"
    )


def test_listed_tables_never_hand_out_an_id_twice(app):
    """SQLite: AUTOINCREMENT in the DDL. PostgreSQL: the id comes from a sequence (which
    never goes back), checked in the catalogue rather than assumed."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            rows = db.session.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type='table'")
            )
            ddl = {name: sql for name, sql in rows}
            missing = [n for n in NEVER_REUSED_IDS if "AUTOINCREMENT" not in ddl[n].upper()]
        else:
            missing = [
                n for n in NEVER_REUSED_IDS
                if db.session.scalar(
                    text("SELECT pg_get_serial_sequence(:t, :c)"),
                    {"t": n, "c": db.metadata.tables[n].primary_key.columns.values()[0].name},
                )
                is None
            ]  # fmt: skip
    assert not missing


def _new_need(enterprise_id: int, ref: str) -> Need:
    need = Need(ref=ref, enterprise_id=enterprise_id, kind="loan", amount_cny=1_000_000,
                term_months=12, purpose="流动资金")  # fmt: skip
    db.session.add(need)
    db.session.flush()
    return need


def test_a_deleted_rows_id_is_never_given_again(app, sample_data):
    with app.app_context():
        enterprise = accounts.find_organization("E-001")
        old = _new_need(enterprise.id, "N-OLD")
        old_id = old.id
        db.session.delete(old)
        db.session.commit()
        assert _new_need(enterprise.id, "N-NEW").id > old_id
        gone = User(email="gone@x.cn", role="operator", password_hash="x")
        db.session.add(gone)
        db.session.commit()
        gone_id = gone.id
        db.session.delete(gone)
        db.session.commit()
        later = User(email="next@x.cn", role="operator", password_hash="x")
        db.session.add(later)
        db.session.commit()
        assert later.id > gone_id
        newest = db.session.scalar(select(func.max(Organization.id)))
        db.session.delete(db.session.get(Organization, newest))
        db.session.commit()
        owner = accounts.register(account_type="investor", org_name="新机构", name="n",
                                email="n@x.cn", password="Lychee-Harbour-47")  # fmt: skip
        assert owner.organization.id > newest


def test_the_dashboard_never_shows_history_from_before_a_record_existed(app, sample_data):
    # Even if an id were given twice, the old row's entries stay off the new owner's feed.
    with app.app_context():
        enterprise = accounts.find_organization("E-001")
        need = _new_need(enterprise.id, "N-FEED")
        db.session.commit()
        stale = audit.record("update", need, actor="someone@else.cn", detail={"secret": 1})
        stale.at = need.created_at - timedelta(days=1)
        fresh = audit.record("update", need, actor="owner@x.cn")
        db.session.commit()
        feed = [e.id for e in workspace.recent_activity(enterprise, limit=50)]
        assert fresh.id in feed and stale.id not in feed
        other = accounts.find_organization("E-002")
        assert fresh.id not in [e.id for e in workspace.recent_activity(other, limit=50)]


def test_upgrading_to_autoincrement_keeps_every_row(app, sample_data, make_user):
    # The table copy runs with foreign keys off: with them on, dropping `organizations`
    # would cascade into enterprises, funders, needs, products…
    with app.app_context():
        make_user("keep@x.cn", "enterprise", "E-001")
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        previous = script.get_revision("0008").down_revision
        tables = ["organizations", "enterprises", "funders", "needs", "patents", "products",
                  "outcomes", "users", "memberships", "audit_entries"]  # fmt: skip

        def counts() -> dict[str, int]:
            return {t: db.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}  # noqa: S608

        before = counts()
        db.session.remove()
        downgrade(revision=previous)
        db.session.remove()
        upgrade()
        db.session.remove()
        db.engine.dispose()
        assert counts() == before
        assert db.session.scalar(select(func.count(User.id))) == 1
        assert db.session.scalar(select(func.count(AuditEntry.id))) == before["audit_entries"]
