"""The institution workspace: profile, team, products."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from techfin import mail
from techfin.errors import DomainError
from techfin.models import Product
from techfin.services import catalog, lifecycle, team, workspace
from techfin.services import profile as profiles
from techfin.web.institution_forms import (
    FunderProfileForm,
    InviteForm,
    ProductForm,
    ProductStatusForm,
)
from techfin.web.util import (
    acting_user,
    apply_domain_error,
    current_org,
    flash_domain_error,
    guard,
    is_institution_user,
    owned_or_404,
    submit_form,
)

bp = Blueprint("institution", __name__, url_prefix="/institution")
bp.before_request(guard(is_institution_user))


@bp.route("/profile", methods=["GET", "POST"])
def profile_page():
    funder = current_org()
    form = FunderProfileForm(obj=funder)
    done = submit_form(
        form,
        lambda values: profiles.update_funder(acting_user(), funder, values),
        _("Profile saved."),
        ".profile_page",
    )
    return done or render_template("institution/profile.html", form=form, funder=funder)


# ------------------------------------------------------------------ team


def _invitation_mail(inviter, org):  # noqa: ANN001, ANN202 - builds the compose callback
    def compose(user, link):  # noqa: ANN001, ANN202
        subject = _("%(org)s invites you to techfin", org=org.name)
        return mail.build_message(user.email, subject, "invite", to_name=user.name,
                                  user=user, inviter=inviter, org=org, link=link)  # fmt: skip

    return compose


@bp.route("/team", methods=["GET", "POST"])
def team_page():
    org, user = current_org(), acting_user()
    owner = team.is_owner(user, org)
    form = InviteForm()
    fallback_link = None
    if form.is_submitted() and not owner:
        abort(403)
    if form.validate_on_submit():
        try:
            invitation = team.invite(
                user, org, form.email.data, form.name.data or "",
                link_for=lambda token: url_for("auth.welcome", token=token, _external=True),
                compose=_invitation_mail(user, org), send=mail.send,
            )  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            if invitation.mailed:
                flash(_("Invitation sent to %(email)s.", email=invitation.user.email), "success")
                return redirect(url_for(".team_page"))
            fallback_link = invitation.link
            form = InviteForm(formdata=None)
    return render_template(
        "institution/team.html",
        form=form,
        members=team.members(org),
        owner=owner,
        fallback_link=fallback_link,
    )


@bp.route("/team/<id:user_id>/remove", methods=["POST"])
def member_remove(user_id: int):
    org, user = current_org(), acting_user()
    if not team.is_owner(user, org):
        abort(403)
    try:
        removed = team.remove_member(user, org, user_id)
    except DomainError as err:
        if err.status == 404:
            abort(404)
        flash_domain_error(err)
    else:
        flash(_("%(email)s was removed and can no longer log in.", email=removed.email), "success")
    return redirect(url_for(".team_page"))


# ------------------------------------------------------------------ products


@bp.route("/products")
def products():
    return render_template(
        "institution/products.html",
        products=workspace.products(current_org()),
        status_form=ProductStatusForm(),
    )


@bp.route("/products/new", methods=["GET", "POST"])
def product_new():
    form = ProductForm()
    done = submit_form(
        form,
        lambda values: catalog.create_product(acting_user(), current_org(), values),
        _("Product created."),
        ".products",
    )
    return done or render_template("institution/product_form.html", form=form, product=None)


@bp.route("/products/<id:product_id>/edit", methods=["GET", "POST"])
def product_edit(product_id: int):
    product = owned_or_404(Product, product_id)
    if product.status == "retired":
        flash(_("A retired product cannot be changed."), "warning")
        return redirect(url_for(".products"))
    form = ProductForm(obj=product)
    done = submit_form(
        form,
        lambda values: lifecycle.update_product(acting_user(), product, values),
        _("Product saved."),
        ".products",
    )
    return done or render_template("institution/product_form.html", form=form, product=product)


@bp.route("/products/<id:product_id>/status", methods=["POST"])
def product_status(product_id: int):
    product = owned_or_404(Product, product_id)
    form = ProductStatusForm()
    if not form.validate_on_submit():
        flash(_("Choose what to do with the product."), "danger")
        return redirect(url_for(".products"))
    try:
        lifecycle.set_product_status(acting_user(), product, form.status.data)
    except DomainError as err:
        flash_domain_error(err)
    else:
        flash(_("Product status changed."), "success")
    return redirect(url_for(".products"))
