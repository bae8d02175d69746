"""Landing page and the per-role dashboard."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from techfin.models import Enterprise, Funder
from techfin.services import jobs, marketplace, recommendations, workspace

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    return render_template("main/index.html", stats=workspace.platform_counts())


@bp.route("/healthz")
def healthz():
    jobs.check_database()
    return {"status": "ok"}


@bp.route("/ping")
def ping():
    # No database, no template: the floor the load benchmark compares every page with.
    return {"status": "ok"}


@bp.route("/dashboard")
@login_required
def dashboard():
    user, org = current_user._get_current_object(), current_user.organization
    context: dict = {"org": org}
    if isinstance(org, Enterprise):
        needs = workspace.open_needs(org)
        context.update(
            completeness=workspace.completeness(org),
            needs=[(n, workspace.need_match_count(n)) for n in needs],
            activity=workspace.recent_activity(org),
        )
    elif isinstance(org, Funder):
        context.update(
            product_counts=workspace.product_counts(org),
            activity=workspace.recent_activity(org),
            recommendations=recommendations.pending_for(user),
            dealflow=(
                marketplace.published_needs(user, per_page=5).items
                if marketplace.can_browse_dealflow(user)
                else []
            ),
        )
    elif user.is_operator:
        context.update(pending=workspace.pending_funder_count())
    return render_template("main/dashboard.html", **context)
