"""/api/v1/imports — operators upload an interchange file; a queued task validates and
imports it with the CLI's function (services/upload_jobs.py). The POST answers 202 at once;
GET /imports/<id> says queued, running, done or failed, with the report."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from werkzeug.exceptions import RequestEntityTooLarge

from techfin.api.auth import caller
from techfin.api.core import errors, resource_blueprint
from techfin.api.schemas import ImportAccepted, ImportJobOut, ImportUpload
from techfin.errors import DomainError
from techfin.models import UploadJob
from techfin.services import upload_jobs, uploads

bp = resource_blueprint("api_imports", "imports", "Imports / 数据导入")

FORM_OVERHEAD = 64 * 1024
_TRUE = {"1", "true", "yes", "on"}


def job_out(job: UploadJob) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.status, "filename": job.filename, "size": job.size,
        "skip_invalid": bool((job.params or {}).get("skip_invalid")),
        "created_at": job.created_at, "finished_at": job.finished_at, "error": job.error,
        "result": job.result,
    }  # fmt: skip


@bp.route("")
class Imports(MethodView):
    @bp.doc(
        requestBody={"required": True,
                     "content": {"multipart/form-data": {"schema": ImportUpload}}}
    )  # fmt: skip
    @bp.response(202, ImportAccepted)
    @errors(bp, 400, 403, 413, 422)
    def post(self) -> dict[str, Any]:
        """Upload an interchange file to import (operators): 202 with the job's id; the file
        is read and imported off the request (all-or-nothing unless skip_invalid)."""
        user = caller()
        upload_jobs.require_operator(user)
        request.max_content_length = uploads.limits()["UPLOAD_MAX_BYTES"] + FORM_OVERHEAD
        try:
            files, form = request.files, request.form
        except RequestEntityTooLarge as exc:
            text = uploads.too_large_text(uploads.limits()["UPLOAD_MAX_BYTES"])
            raise uploads.refused(text, uploads.TooLarge) from exc
        upload = files.get("file")
        if upload is None or not upload.filename:
            text = "Choose a file to upload (multipart field 'file') / 请选择要上传的文件"
            raise DomainError(text, {"file": [text]})
        skip = str(form.get("skip_invalid", "")).strip().lower() in _TRUE
        job = upload_jobs.submit_import(user, upload.stream, upload.filename, skip)
        return {"id": job.id, "status": job.status}


@bp.route("/<int:job_id>")
class ImportById(MethodView):
    @bp.response(200, ImportJobOut)
    @errors(bp, 403, 404)
    def get(self, job_id: int) -> dict[str, Any]:
        """An import's status and, once finished, its report (errors by line and field)."""
        return job_out(upload_jobs.import_job(caller(), job_id))
