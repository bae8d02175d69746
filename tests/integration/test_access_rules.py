"""The access rules of services/access.py, checked against the sample data."""

from __future__ import annotations

from techfin.extensions import db
from techfin.models import Funder, Need, Patent, SharingRule, User
from techfin.services import access


def _user(email: str) -> User:
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def _needs(user: User) -> set[str]:
    return set(db.session.execute(db.select(Need.ref).where(access.need_filter(user))).scalars())


def _patents(user: User) -> set[str]:
    return set(
        db.session.execute(db.select(Patent.ref).where(access.patent_filter(user))).scalars()
    )


def test_institution_sees_nothing_until_verified(app, sample_data, make_user):
    make_user("vc@x.cn", "investor", "F-002")  # F-002 is imported unverified
    with app.app_context():
        vc = _user("vc@x.cn")
        assert _needs(vc) == set() and _patents(vc) == set()
        funder = db.session.execute(db.select(Funder).filter_by(ref="F-002")).scalar_one()
        funder.status = "verified"
        db.session.commit()
        assert _needs(vc) == {"N-001"}  # published only; N-002 is a draft


def test_enterprise_sees_only_its_own(app, sample_data, make_user):
    make_user("e1@x.cn", "enterprise", "E-001")
    make_user("e2@x.cn", "enterprise", "E-002")
    with app.app_context():
        assert _needs(_user("e1@x.cn")) == {"N-001"}
        assert _needs(_user("e2@x.cn")) == {"N-002"}
        assert _patents(_user("e1@x.cn")) == {"PT-001", "PT-002"}
        assert _patents(_user("e2@x.cn")) == set()


def test_patents_follow_sharing_and_never_confidential(app, sample_data, make_user):
    make_user("bank@x.cn", "bank", "F-001")
    with app.app_context():
        bank = _user("bank@x.cn")
        ent = db.session.execute(db.select(Need).filter_by(ref="N-001")).scalar_one().enterprise
        assert _patents(bank) == set()
        db.session.add(SharingRule(enterprise_id=ent.id, funder_id=None, patents=True))
        db.session.commit()
        assert _patents(bank) == {"PT-001"}  # PT-002 is confidential
        assert not access.can_see_financials(bank, ent)
        # A rule for this funder overrides the rule for all funders.
        db.session.add(SharingRule(enterprise_id=ent.id, funder_id=bank.organization.id,
                                   patents=False, financials=True))  # fmt: skip
        db.session.commit()
        assert _patents(bank) == set()
        assert access.can_see_financials(bank, ent)


def test_operator_sees_everything(app, sample_data, make_user):
    make_user("op@x.cn", "operator")
    with app.app_context():
        op = _user("op@x.cn")
        assert _needs(op) == {"N-001", "N-002"}
        assert _patents(op) == {"PT-001", "PT-002"}
