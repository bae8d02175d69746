"""Docking events (对接活动) and recommendations (推荐): thin views over
services.events and services.recommendations, which decide who may do what."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from techfin.errors import DomainError, Forbidden
from techfin.models import Enterprise, Funder, Need, Product
from techfin.services import events as svc
from techfin.services import lookup, reports
from techfin.services import recommendations as recs
from techfin.web.events_forms import (
    CheckinForm,
    DeclineForm,
    EventForm,
    MeetingOutcomeForm,
    MeetingRequestForm,
    RecommendForm,
)
from techfin.web.forms import options
from techfin.web.operations_form_parts import ops_choices, ops_label
from techfin.web.util import acting_user, apply_domain_error, flash_domain_error, guard

bp = Blueprint("events", __name__, url_prefix="/events")
bp.before_request(guard(lambda user: True))
rec_bp = Blueprint("recommendations", __name__, url_prefix="/recommendations")
rec_bp.before_request(guard(lambda user: True))


# ------------------------------------------------------------------ recommendations


@rec_bp.route("")
def rec_list():
    status = request.args.get("status")
    status = status if status in ("pending", "accepted", "declined") else None
    items = recs.visible(acting_user(), status)
    return render_template("events/recommendations.html", items=items, status=status)


@rec_bp.route("/new", methods=["GET", "POST"])
def rec_new():
    user = acting_user()
    if not user.is_operator:
        recs.recommend(user, None, None)  # raises Forbidden
    form = RecommendForm()
    form.need_id.choices = options([("", _("Choose…")),
                                    *recs.need_choices(request.values.get("need_id"))])  # fmt: skip
    form.product_id.choices = options([("", _("Choose…")), *recs.product_choices()])
    if request.method == "GET" and request.args.get("need_id", "").isdigit():
        form.need_id.data = int(request.args["need_id"])
    if form.validate_on_submit():
        need = lookup.find(Need, form.need_id.data)
        product = lookup.find(Product, form.product_id.data)
        try:
            recs.recommend(user, need, product, form.note.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Recommended to %(funder)s.", funder=product.funder.name), "success")
            return redirect(url_for(".rec_list"))
    return render_template("events/recommend.html", form=form)


@rec_bp.route("/<id:rec_id>/accept", methods=["POST"])
def rec_accept(rec_id: int):
    user = acting_user()
    rec = recs.get(user, rec_id)
    recs.require_answerer(user, rec)
    try:
        recs.accept(user, rec)
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("Accepted: the enterprise is now in your pipeline as contacted."), "success")
    return redirect(url_for(".rec_list"))


@rec_bp.route("/<id:rec_id>/decline", methods=["GET", "POST"])
def rec_decline(rec_id: int):
    user = acting_user()
    rec = recs.get(user, rec_id)
    recs.require_answerer(user, rec)
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            recs.decline(user, rec, form.reason.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Declined; the platform sees your reason."), "success")
            return redirect(url_for(".rec_list"))
    return render_template("events/decline.html", form=form, rec=rec)


# ------------------------------------------------------------------ events


def _operator() -> None:
    if not acting_user().is_operator:
        raise Forbidden(_("Only operators manage docking events."))


@bp.route("")
def event_list():
    user = acting_user()
    org = svc.participant_org(user)
    items = svc.visible_events(user)
    mine = {e.id for e in items if org is not None and svc.registration(e, org.id)}
    return render_template("events/list.html", items=items, mine=mine)


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<id:event_id>/edit", methods=["GET", "POST"])
def event_edit(event_id: int | None = None):
    _operator()
    event = svc.get_event(event_id) if event_id else None
    form = EventForm()
    form.kind.choices = ops_choices("event_kind")
    if request.method == "GET" and event is not None:
        form.process(obj=event)
        form.starts_at.data = svc.to_local(event.starts_at)
        form.ends_at.data = svc.to_local(event.ends_at)
    if form.validate_on_submit():
        data = {k: form[k].data for k in ("title", "kind", "starts_at", "ends_at", "place", "link",
                                          "capacity", "slot_minutes", "meeting_cap", "description")}  # fmt: skip
        try:
            event = svc.save_event(acting_user(), event, data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("The event is saved."), "success")
            return redirect(url_for(".event_detail", event_id=event.id))
    return render_template("events/edit.html", form=form, event=event)


@bp.route("/<id:event_id>")
def event_detail(event_id: int):
    user = acting_user()
    event = svc.get_event(event_id)
    org = svc.participant_org(user)
    return render_template(
        "events/detail.html", event=event, org=org,
        reg=svc.registration(event, org.id) if org else None,
        meetings=svc.my_meetings(user, event), slots=svc.slot_count(event), svc=svc,
        can_register=org is not None,
    )  # fmt: skip


@bp.route("/<id:event_id>/register", methods=["POST"])
def event_register(event_id: int):
    event = svc.get_event(event_id)
    user = acting_user()
    if svc.participant_org(user) is None:
        raise Forbidden(_("Enterprises and verified institutions register for events."))
    try:
        reg = svc.register(user, event)
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("You are registered. Your check-in code is %(code)s.", code=reg.code), "success")
    return redirect(url_for(".event_detail", event_id=event.id))


@bp.route("/<id:event_id>/unregister", methods=["POST"])
def event_unregister(event_id: int):
    event = svc.get_event(event_id)
    user = acting_user()
    if svc.participant_org(user) is None:
        raise Forbidden(_("Enterprises and verified institutions register for events."))
    try:
        svc.unregister(user, event)
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("Your registration is cancelled."), "success")
    return redirect(url_for(".event_detail", event_id=event.id))


def _meeting_choices(form: MeetingRequestForm, org, others: list) -> None:  # noqa: ANN001
    blank = [("", _("Choose…"))]
    form.counterpart_id.choices = options(blank + [(o.id, o.name) for o in others])
    enterprises = [org] if isinstance(org, Enterprise) else others
    funders = [org] if isinstance(org, Funder) else others
    needs = [(n.id, f"{n.enterprise.name} · {n.ref}") for e in enterprises for n in e.needs
             if n.status == "published"]  # fmt: skip
    products = [(p.id, f"{p.funder.name} · {p.name}") for f in funders for p in f.products
                if p.status == "active"]  # fmt: skip
    form.need_id.choices = options([("", _("(optional)")), *needs])
    form.product_id.choices = options([("", _("(optional)")), *products])


@bp.route("/<id:event_id>/meetings/new", methods=["GET", "POST"])
def meeting_new(event_id: int):
    user = acting_user()
    event = svc.get_event(event_id)
    org = svc.participant_org(user)
    if org is None or svc.registration(event, org.id) is None:
        raise Forbidden(_("Register for the event first."))
    others = svc.counterparts(user, event)
    form = MeetingRequestForm()
    _meeting_choices(form, org, others)
    if request.method == "GET" and request.args.get("with", "").isdigit():
        form.counterpart_id.data = int(request.args["with"])
    if form.validate_on_submit():
        try:
            svc.request_meeting(user, event, form.counterpart_id.data, form.need_id.data,
                                form.product_id.data, form.note.data)  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Meeting requested; the other side confirms it."), "success")
            return redirect(url_for(".event_detail", event_id=event.id))
    return render_template("events/meeting_new.html", form=form, event=event, others=others[:5])


def _answer(event_id: int, meeting_id: int, confirm: bool):  # noqa: ANN202
    user = acting_user()
    event = svc.get_event(event_id)
    meeting = svc.get_meeting(user, event, meeting_id)
    try:
        svc.answer_meeting(user, meeting, confirm)
    except DomainError as err:
        if err.status == 403:
            raise
        flash_domain_error(err)
    else:
        flash(_("Meeting confirmed.") if confirm else _("Meeting declined."), "success")
    return redirect(url_for(".event_detail", event_id=event.id))


@bp.route("/<id:event_id>/meetings/<id:meeting_id>/confirm", methods=["POST"])
def meeting_confirm(event_id: int, meeting_id: int):
    return _answer(event_id, meeting_id, True)


@bp.route("/<id:event_id>/meetings/<id:meeting_id>/decline", methods=["POST"])
def meeting_decline(event_id: int, meeting_id: int):
    return _answer(event_id, meeting_id, False)


@bp.route("/<id:event_id>/meetings/<id:meeting_id>/result", methods=["GET", "POST"])
def meeting_result(event_id: int, meeting_id: int):
    user = acting_user()
    event = svc.get_event(event_id)
    meeting = svc.get_meeting(user, event, meeting_id)
    if not svc.can_record_result(user, meeting):
        raise Forbidden(_("The institution or an operator records the result."))
    form = MeetingOutcomeForm(obj=meeting)
    form.result.choices = ops_choices("meeting_result")
    blank = [("", _("Choose…"))]
    needs, products = svc.result_choices(user, meeting)
    form.need_id.choices = options(blank + [(n.id, f"{n.ref} · {n.purpose}") for n in needs])
    form.product_id.choices = options(blank + [(p.id, p.name) for p in products])
    if form.validate_on_submit():
        try:
            svc.record_result(user, meeting, form.result.data, need_id=form.need_id.data,
                              product_id=form.product_id.data, amount_cny=form.amount_cny.cny,
                              note=form.note.data, rate=form.rate.data,
                              matures=form.matures.data,
                              repayment=form.repayment.data or None)  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("The result is recorded in the docking outcomes."), "success")
            return redirect(url_for(".event_detail", event_id=event.id))
    return render_template("events/result.html", form=form, event=event, meeting=meeting)


@bp.route("/<id:event_id>/schedule", methods=["POST"])
def event_schedule(event_id: int):
    _operator()
    event = svc.get_event(event_id)
    placed, left = svc.run_schedule(acting_user(), event)
    flash(_("%(placed)s meetings scheduled, %(left)s could not be placed.", placed=placed,
            left=left), "success" if not left else "warning")  # fmt: skip
    return redirect(url_for(".event_agenda", event_id=event.id))


@bp.route("/<id:event_id>/agenda")
def event_agenda(event_id: int):
    user = acting_user()
    event = svc.get_event(event_id)
    meetings = sorted(svc.my_meetings(user, event),
                      key=lambda m: (m.slot is None, m.slot or 0, m.id))  # fmt: skip
    return render_template("events/agenda.html", event=event, meetings=meetings, svc=svc)


@bp.route("/<id:event_id>/agenda.ics")
def event_ics(event_id: int):
    event = svc.get_event(event_id)
    body = svc.ics(acting_user(), event)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'attachment; filename="event-{event.id}.ics"'
    return response


@bp.route("/<id:event_id>/checkin", methods=["GET", "POST"])
def event_checkin(event_id: int):
    _operator()
    event = svc.get_event(event_id)
    form = CheckinForm()
    if form.validate_on_submit():
        try:
            reg = svc.check_in(acting_user(), event, form.code.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("%(name)s checked in.", name=reg.organization.name), "success")
            return redirect(url_for(".event_checkin", event_id=event.id))
    return render_template("events/checkin.html", form=form, event=event)


@bp.route("/<id:event_id>/attribution")
def event_attribution(event_id: int):
    event = svc.get_event(event_id)
    totals, table = svc.attribution(acting_user(), event, ops_label)
    return render_template("events/attribution.html", event=event, totals=totals, table=table)


@bp.route("/<id:event_id>/attribution.<any(csv, xlsx):fmt>")
def event_attribution_export(event_id: int, fmt: str):
    event = svc.get_event(event_id)
    _totals, table = svc.attribution(acting_user(), event, ops_label)
    response = Response(reports.render(table, fmt), mimetype=reports.mimetype(fmt))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{reports.download_name(table, fmt)}"'
    )
    return response


@bp.route("/<id:event_id>/<any(participants, meetings):which>.<any(csv, xlsx):fmt>")
def event_list_export(event_id: int, which: str, fmt: str):
    table = svc.event_list(acting_user(), svc.get_event(event_id), which, ops_label)
    response = Response(reports.render(table, fmt), mimetype=reports.mimetype(fmt))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{reports.download_name(table, fmt)}"'
    )
    return response


def init_app(app) -> None:  # noqa: ANN001
    from techfin.services import recommendations

    def pending_recommendations() -> int:
        from flask import g
        from flask_login import current_user

        if not getattr(current_user, "is_authenticated", False):
            return 0
        if "pending_recommendations" not in g:  # the nav badge and the dashboard: one COUNT
            g.pending_recommendations = recommendations.pending_count(
                current_user._get_current_object()
            )
        return g.pending_recommendations

    app.jinja_env.globals["pending_recommendations"] = pending_recommendations
