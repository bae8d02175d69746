"""/api/v1/documents — an enterprise's documents: upload, list, download, delete.

Downloads go to the owning enterprise, operators and institutions holding a live grant;
anyone else gets 404, as for a missing document (services/documents.py decides).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, send_file
from flask.views import MethodView
from werkzeug.exceptions import RequestEntityTooLarge

from techfin.api.auth import caller
from techfin.api.core import errors, resource_blueprint
from techfin.api.schemas import DocumentOut, DocumentPage, DocumentUpload, PageQuery
from techfin.errors import DomainError
from techfin.models import Document
from techfin.services import documents

bp = resource_blueprint("api_documents", "documents", "Documents / 企业材料")

# Multipart framing around the file (boundaries, part headers, the kind field).
FORM_OVERHEAD = 64 * 1024
BINARY = {"schema": {"type": "string", "format": "binary"}}


def read_upload() -> tuple[Any, str | None]:
    """(the uploaded file, the kind) from a multipart form sized for documents.

    The app-wide MAX_CONTENT_LENGTH stays small for every other request; this route alone
    allows DOCUMENT_MAX_BYTES. Werkzeug spools a large file part to a temporary file while
    parsing, so it is never held in memory; the service then streams it to its place."""
    request.max_content_length = documents.max_bytes() + FORM_OVERHEAD
    try:
        files, form = request.files, request.form
    except RequestEntityTooLarge as exc:
        raise documents.too_large_error() from exc
    upload = files.get("file")
    if upload is None or not upload.filename:
        text = "Choose a file to upload (multipart field 'file') / 请选择要上传的文件"
        raise DomainError(text, {"file": [text]})
    return upload, form.get("kind")


@bp.route("")
class Documents(MethodView):
    @bp.arguments(PageQuery, location="query")
    @bp.response(200, DocumentPage)
    @errors(bp, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The caller's enterprise's documents, newest first."""
        page = documents.page_of(caller(), args["page"], args["per_page"])
        return {"items": page.items, "page": page.page, "per_page": page.per_page,
                "total": page.total}  # fmt: skip

    @bp.doc(
        requestBody={
            "required": True,
            "content": {"multipart/form-data": {"schema": DocumentUpload}},
        }
    )
    @bp.response(201, DocumentOut)
    @errors(bp, 400, 403, 413, 422)
    def post(self) -> Document:
        """Upload a document: PDF, PNG, JPEG or XLSX, at most 20 MB, its type read from
        the content. Kinds: business_plan, financial_statements, tax_certificate,
        patent_certificate, copyright_certificate, other."""
        user = caller()
        documents.uploader_enterprise(user)
        upload, kind = read_upload()
        return documents.upload(user, upload.stream, upload.filename, kind)


@bp.route("/<int:document_id>")
class DocumentById(MethodView):
    @bp.doc(
        responses={
            "200": {
                "description": "The file, with its original name in Content-Disposition",
                "content": {mime: BINARY for mime in documents.ALLOWED},
            }
        }
    )
    @errors(bp, 404)
    def get(self, document_id: int) -> Response:
        """Download a document (its enterprise, operators, institutions it was shared with)."""
        doc, path = documents.open_for_download(caller(), document_id)
        response = send_file(path, mimetype=doc.content_type, as_attachment=True,
                             download_name=doc.filename, conditional=True, etag=doc.sha256)  # fmt: skip
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @bp.response(204)
    @errors(bp, 404)
    def delete(self, document_id: int) -> None:
        """Delete a document (its enterprise or operators); every share of it ends."""
        user = caller()
        documents.delete(user, documents.get_visible(user, document_id))
