"""Landing page and the per-role dashboard."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from techfin.extensions import db
from techfin.models import Enterprise, Funder, Need, Product

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    stats = {
        "enterprises": db.session.scalar(db.select(db.func.count()).select_from(Enterprise)),
        "funders": db.session.scalar(
            db.select(db.func.count()).select_from(Funder).where(Funder.status == "verified")
        ),
        "products": db.session.scalar(
            db.select(db.func.count()).select_from(Product).where(Product.status == "active")
        ),
        "needs": db.session.scalar(
            db.select(db.func.count()).select_from(Need).where(Need.status == "published")
        ),
    }
    return render_template("main/index.html", stats=stats)


@bp.route("/healthz")
def healthz():
    db.session.execute(db.select(1))
    return {"status": "ok"}


@bp.route("/dashboard")
@login_required
def dashboard():
    return render_template("main/dashboard.html", org=current_user.organization)
