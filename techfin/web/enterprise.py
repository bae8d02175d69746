"""The enterprise workspace: profile, patents, software copyrights and trademarks,
financing needs, data sharing."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from techfin.errors import DomainError
from techfin.models import Copyright, Need, Patent, SharingRule, Trademark
from techfin.services import catalog, lifecycle, profile, workspace
from techfin.web.enterprise_forms import (
    CloseNeedForm,
    CopyrightForm,
    EnterpriseProfileForm,
    NeedForm,
    PatentForm,
    SharingForm,
    TrademarkForm,
)
from techfin.web.util import (
    acting_user,
    apply_domain_error,
    current_org,
    flash_domain_error,
    guard,
    is_enterprise_user,
    owned_or_404,
    submit_form,
)

bp = Blueprint("enterprise", __name__, url_prefix="/enterprise")
bp.before_request(guard(is_enterprise_user))


# ------------------------------------------------------------------ profile


@bp.route("/profile", methods=["GET", "POST"])
def profile_page():
    enterprise = current_org()
    form = EnterpriseProfileForm(obj=enterprise)
    done = submit_form(
        form,
        lambda values: catalog.update_enterprise(acting_user(), enterprise, values),
        _("Profile saved."),
        ".profile_page",
    )
    return done or render_template("enterprise/profile.html", form=form, enterprise=enterprise)


# ------------------------------------------------------------------ patents


@bp.route("/patents")
def patents():
    rows = workspace.patents(current_org())
    return render_template("enterprise/patents.html", patents=rows)


@bp.route("/patents/new", methods=["GET", "POST"])
def patent_new():
    form = PatentForm()
    done = submit_form(
        form,
        lambda values: catalog.create_patent(acting_user(), current_org(), values),
        _("Patent added."),
        ".patents",
    )
    return done or render_template("enterprise/patent_form.html", form=form, patent=None)


@bp.route("/patents/<id:patent_id>/edit", methods=["GET", "POST"])
def patent_edit(patent_id: int):
    patent = owned_or_404(Patent, patent_id)
    form = PatentForm(obj=patent)
    done = submit_form(
        form,
        lambda values: catalog.update_patent(acting_user(), patent, values),
        _("Patent saved."),
        ".patents",
    )
    return done or render_template("enterprise/patent_form.html", form=form, patent=patent)


@bp.route("/patents/<id:patent_id>/delete", methods=["POST"])
def patent_delete(patent_id: int):
    patent = owned_or_404(Patent, patent_id)
    catalog.delete_patent(acting_user(), patent)
    flash(_("Patent deleted."), "success")
    return redirect(url_for(".patents"))


# ------------------------------------------------------------------ copyrights and trademarks
# The same four pages for each kind (catalog.create_ip / update_ip / delete_ip).

_IP_PAGES = {
    "copyright": (Copyright, CopyrightForm, "copyrights"),
    "trademark": (Trademark, TrademarkForm, "trademarks"),
}


def _ip_list(kind: str) -> str:
    model, _form, _plural = _IP_PAGES[kind]
    rows = workspace.ip_rights(current_org(), model)
    return render_template("enterprise/ip_rights.html", kind=kind, items=rows)


def _ip_new(kind: str):  # noqa: ANN202 - a response
    _model, form_class, plural = _IP_PAGES[kind]
    form = form_class()
    done = submit_form(
        form,
        lambda values: catalog.create_ip(acting_user(), kind, current_org(), values),
        _("Saved."),
        f".ip_{plural}",
    )
    return done or render_template("enterprise/ip_form.html", kind=kind, form=form, item=None)


def _ip_edit(kind: str, item_id: int):  # noqa: ANN202 - a response
    model, form_class, plural = _IP_PAGES[kind]
    item = owned_or_404(model, item_id)
    form = form_class(obj=item)
    done = submit_form(
        form,
        lambda values: catalog.update_ip(acting_user(), item, values),
        _("Saved."),
        f".ip_{plural}",
    )
    return done or render_template("enterprise/ip_form.html", kind=kind, form=form, item=item)


def _ip_delete(kind: str, item_id: int):  # noqa: ANN202 - a response
    model, _form, plural = _IP_PAGES[kind]
    catalog.delete_ip(acting_user(), owned_or_404(model, item_id))
    flash(_("Deleted."), "success")
    return redirect(url_for(f".ip_{plural}"))


@bp.route("/copyrights")
def ip_copyrights():
    return _ip_list("copyright")


@bp.route("/copyrights/new", methods=["GET", "POST"])
def ip_copyright_new():
    return _ip_new("copyright")


@bp.route("/copyrights/<id:item_id>/edit", methods=["GET", "POST"])
def ip_copyright_edit(item_id: int):
    return _ip_edit("copyright", item_id)


@bp.route("/copyrights/<id:item_id>/delete", methods=["POST"])
def ip_copyright_delete(item_id: int):
    return _ip_delete("copyright", item_id)


@bp.route("/trademarks")
def ip_trademarks():
    return _ip_list("trademark")


@bp.route("/trademarks/new", methods=["GET", "POST"])
def ip_trademark_new():
    return _ip_new("trademark")


@bp.route("/trademarks/<id:item_id>/edit", methods=["GET", "POST"])
def ip_trademark_edit(item_id: int):
    return _ip_edit("trademark", item_id)


@bp.route("/trademarks/<id:item_id>/delete", methods=["POST"])
def ip_trademark_delete(item_id: int):
    return _ip_delete("trademark", item_id)


# ------------------------------------------------------------------ needs


@bp.route("/needs")
def needs():
    items = [(n, workspace.need_match_count(n)) for n in workspace.needs(current_org())]
    funded = workspace.funded_need_ids(current_org())
    return render_template("enterprise/needs.html", items=items, funded=funded)


@bp.route("/needs/new", methods=["GET", "POST"])
def need_new():
    form = NeedForm()
    done = submit_form(
        form,
        lambda values: catalog.create_need(acting_user(), current_org(), values),
        _("Saved as a draft. Publish it when institutions may see it."),
        lambda need: url_for(".need_detail", need_id=need.id),
    )
    return done or render_template("enterprise/need_form.html", form=form, need=None)


@bp.route("/needs/<id:need_id>")
def need_detail(need_id: int):
    need = owned_or_404(Need, need_id)
    return render_template(
        "enterprise/need_detail.html",
        need=need,
        outcomes=workspace.need_outcomes(need),
        match_count=workspace.need_match_count(need),
    )


@bp.route("/needs/<id:need_id>/edit", methods=["GET", "POST"])
def need_edit(need_id: int):
    need = owned_or_404(Need, need_id)
    if need.status == "closed":
        flash(_("A closed need cannot be edited. Reopen it first."), "warning")
        return redirect(url_for(".need_detail", need_id=need.id))
    form = NeedForm(obj=need)
    done = submit_form(
        form,
        lambda values: catalog.update_need(acting_user(), need, values),
        _("Need saved."),
        lambda _saved: url_for(".need_detail", need_id=need.id),
    )
    return done or render_template("enterprise/need_form.html", form=form, need=need)


@bp.route("/needs/<id:need_id>/publish", methods=["POST"])
def need_publish(need_id: int):
    need = owned_or_404(Need, need_id)
    try:
        lifecycle.publish_need(acting_user(), need)
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("Published: verified institutions can now see this need."), "success")
    return redirect(url_for(".need_detail", need_id=need.id))


@bp.route("/needs/<id:need_id>/close", methods=["GET", "POST"])
def need_close(need_id: int):
    need = owned_or_404(Need, need_id)
    form = CloseNeedForm()
    if need.status == "closed":
        flash(_("This need is already closed."), "info")
        return redirect(url_for(".need_detail", need_id=need.id))
    if form.validate_on_submit():
        try:
            lifecycle.close_need(acting_user(), need, form.reason.data)
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Need closed."), "success")
            return redirect(url_for(".need_detail", need_id=need.id))
    return render_template("enterprise/need_close.html", form=form, need=need)


@bp.route("/needs/<id:need_id>/delete", methods=["POST"])
def need_delete(need_id: int):
    need = owned_or_404(Need, need_id)
    try:
        lifecycle.delete_draft(acting_user(), need)
    except DomainError as err:
        flash_domain_error(err)
        return redirect(url_for(".need_detail", need_id=need.id))
    flash(_("Draft deleted."), "success")
    return redirect(url_for(".needs"))


# ------------------------------------------------------------------ sharing


@bp.route("/sharing", methods=["GET", "POST"])
def sharing():
    enterprise = current_org()
    form = SharingForm()
    form.set_funders(profile.shareable_funders())
    if form.validate_on_submit():
        funder_id = int(form.funder.data) if form.funder.data else None
        try:
            catalog.set_sharing(
                acting_user(), enterprise, funder_id,
                financials=form.financials.data, patents=form.patents.data,
            )  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Sharing rule saved."), "success")
            return redirect(url_for(".sharing"))
    return render_template(
        "enterprise/sharing.html",
        form=form,
        rules=profile.sharing_rules(enterprise),
        log=profile.access_log(enterprise, request.args.get("page", 1)),
    )


@bp.route("/sharing/<id:rule_id>/delete", methods=["POST"])
def sharing_delete(rule_id: int):
    rule = owned_or_404(SharingRule, rule_id)
    profile.delete_sharing_rule(acting_user(), current_org(), rule.id)
    flash(_("Sharing rule removed."), "success")
    return redirect(url_for(".sharing"))
