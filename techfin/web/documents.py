"""Pages: the enterprise's documents (我的材料) and the download link every allowed reader uses."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import SelectField, SubmitField

from techfin.errors import DomainError, NotFound
from techfin.services import documents
from techfin.web.labels import choices
from techfin.web.util import acting_user, apply_domain_error, guard, is_enterprise_user

bp = Blueprint("documents", __name__)

# Multipart framing around the file (boundaries, part headers, the other fields).
FORM_OVERHEAD = 64 * 1024


class DocumentForm(FlaskForm):
    kind = SelectField(_l("Kind of document"), choices=lambda: choices("document_kind"))
    file = FileField(_l("File"), description=_l("PDF, PNG, JPEG or XLSX, at most 20 MB."),
                     render_kw={"accept": ".pdf,.png,.jpg,.jpeg,.xlsx"})  # fmt: skip
    submit = SubmitField(_l("Upload"))


def _too_large() -> str:
    mb = documents.max_bytes() / (1024 * 1024)
    return _("The file is larger than %(mb)s MB.", mb=f"{mb:g}")


_enterprise_only = guard(is_enterprise_user)
_logged_in = guard(lambda user: True)


@bp.route("/enterprise/documents", methods=["GET", "POST"])
def documents_page():
    denied = _enterprise_only()
    if denied is not None:
        return denied
    request.max_content_length = documents.max_bytes() + FORM_OVERHEAD
    try:
        form = DocumentForm()
        valid = form.validate_on_submit()
    except RequestEntityTooLarge:
        flash(_too_large(), "danger")
        return redirect(url_for(".documents_page")), 303
    if valid:
        upload = form.file.data
        if upload is None or not getattr(upload, "filename", ""):
            form.file.errors = [*form.file.errors, _("Choose a file to upload.")]
        else:
            try:
                doc = documents.upload(acting_user(), upload.stream, upload.filename,
                                       form.kind.data)  # fmt: skip
            except documents.TooLarge:
                form.file.errors = [*form.file.errors, _too_large()]
            except DomainError as err:
                apply_domain_error(form, err)
            else:
                flash(_("Uploaded %(name)s.", name=doc.filename), "success")
                return redirect(url_for(".documents_page"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("documents/list.html", form=form,
                           page=documents.page_of(acting_user(), request.args.get("page", 1)),
                           max_mb=f"{documents.max_bytes() / (1024 * 1024):g}"), status  # fmt: skip


@bp.route("/enterprise/documents/<id:document_id>/delete", methods=["POST"])
def document_delete(document_id: int):
    denied = _enterprise_only()
    if denied is not None:
        return denied
    user = acting_user()
    try:
        doc = documents.get_visible(user, document_id)
        documents.delete(user, doc)
    except NotFound:
        abort(404)
    flash(_("Deleted %(name)s.", name=doc.filename), "success")
    return redirect(url_for(".documents_page"))


@bp.route("/documents/<id:document_id>")
def document_download(document_id: int):
    """The file for its enterprise, operators and institutions it was shared with; 404 for
    anyone else (as for a missing document)."""
    denied = _logged_in()
    if denied is not None:
        return denied
    try:
        doc, path = documents.open_for_download(acting_user(), document_id)
    except NotFound:
        abort(404)
    response = send_file(path, mimetype=doc.content_type, as_attachment=True,
                         download_name=doc.filename, conditional=True, etag=doc.sha256)  # fmt: skip
    response.headers["Cache-Control"] = "private, no-store"
    return response
