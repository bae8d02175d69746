"""Administrators' pages: create accounts, change roles, reset passwords."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from techfin.errors import DomainError
from techfin.models import User
from techfin.services import accounts, administration
from techfin.web.admin_forms import AccountCreateForm, AdminPasswordForm, RoleForm
from techfin.web.labels import label
from techfin.web.util import acting_user, apply_domain_error, found_or_404, guard

bp = Blueprint("admin", __name__, url_prefix="/admin")
# The services check the role too; the guard only keeps everyone else off the pages.
bp.before_request(guard(lambda user: user.role == "admin"))


def _target(user_id: int) -> User:
    return found_or_404(User, user_id)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = AccountCreateForm()
    if form.validate_on_submit():
        try:
            user = administration.create_account(
                acting_user(), email=form.email.data, role=form.role.data,
                password=form.password.data, name=form.name.data or "",
                org_ref=form.org_ref.data or "",
            )  # fmt: skip
        except DomainError as err:
            apply_domain_error(form, err)
        else:
            flash(_("Account %(email)s created.", email=user.email), "success")
            return redirect(url_for(".user_page", user_id=user.id))
    return render_template("admin/user_new.html", form=form)


def _page(user: User, role_form: RoleForm, password_form: AdminPasswordForm) -> str:
    return render_template(
        "admin/user.html",
        target=user,
        role_form=role_form,
        password_form=password_form,
        manageable=accounts.can_manage(acting_user(), user),
    )


@bp.route("/users/<id:user_id>")
def user_page(user_id: int):
    user = _target(user_id)
    return _page(user, RoleForm(prefix="role", role=user.role), AdminPasswordForm(prefix="pw"))


@bp.route("/users/<id:user_id>/role", methods=["POST"])
def user_role(user_id: int):
    user = _target(user_id)
    form = RoleForm(prefix="role")
    if form.validate_on_submit():
        try:
            administration.change_role(acting_user(), user, form.role.data)
        except DomainError as err:
            if err.status == 403:
                abort(403)
            apply_domain_error(form, err)
        else:
            flash(_("%(email)s is now: %(role)s.", email=user.email,
                    role=label("role", user.role)), "success")  # fmt: skip
            return redirect(url_for(".user_page", user_id=user.id))
    return _page(user, form, AdminPasswordForm(prefix="pw"))


@bp.route("/users/<id:user_id>/password", methods=["POST"])
def user_password(user_id: int):
    user = _target(user_id)
    form = AdminPasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            administration.reset_password(acting_user(), user, form.password.data)
        except DomainError as err:
            if err.status == 403:
                abort(403)
            apply_domain_error(form, err)
        else:
            flash(_("The password of %(email)s was reset; their sessions were ended.",
                    email=user.email), "success")  # fmt: skip
            return redirect(url_for(".user_page", user_id=user.id))
    return _page(user, RoleForm(prefix="role", role=user.role), form)
