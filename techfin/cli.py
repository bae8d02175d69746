"""flask commands: bulk data, accounts, tokens, demo data (`flask --app wsgi --help`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from techfin.errors import DomainError
from techfin.extensions import db

_T = TypeVar("_T")


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _domain_message(err: DomainError) -> str:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in err.fields.items())
    return f"{err.message} ({details})" if details else err.message


def _progressbar(length: int, label: str):  # noqa: ANN202 - click's ProgressBar
    """On stderr, so that stdout keeps only the summary that scripts read."""
    return click.progressbar(length=length, label=label, file=sys.stderr)


def _consume(records: list[_T]) -> Iterator[_T]:
    """Hand the records over one by one, dropping each from the list: the raw records of a
    large file would otherwise stay in memory beside their validated copies."""
    records.reverse()
    while records:
        yield records.pop()


@click.command("import-data")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Commit the valid records, report the rest.")
@with_appcontext
def import_data(file: Path, skip_invalid: bool) -> None:
    """Import an interchange file (.jsonl, .csv or .xlsx); idempotent by ref."""
    from techfin.services.interchange import InterchangeFormatError, import_records, read_file

    try:
        records = read_file(file)
    except InterchangeFormatError as exc:
        _fail(str(exc))
    if len(records) > 2000:
        # Each record is counted twice: validated, then written (or found unchanged).
        with _progressbar(2 * len(records), "Importing") as bar:
            report = import_records(_consume(records), skip_invalid=skip_invalid,
                                    progress=bar.update, actor=f"import:{file.name}")  # fmt: skip
    else:
        report = import_records(records, skip_invalid=skip_invalid, actor=f"import:{file.name}")
    for error in report.errors[:200]:
        click.echo(str(error), err=True)
    if len(report.errors) > 200:
        click.echo(f"… and {len(report.errors) - 200} more errors", err=True)
    click.echo(report.summary())
    if not report.committed:
        _fail(f"{len(report.errors)} invalid record(s): nothing was imported")
    if report.errors:
        click.echo(f"skipped {len(report.errors)} invalid record(s)", err=True)
        raise SystemExit(1)


@click.command("export-data")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export_data(file: Path) -> None:
    """Export every record to FILE (.jsonl, .csv or .xlsx)."""
    from techfin.services.interchange import InterchangeFormatError, export_file

    try:
        count = export_file(file)
    except InterchangeFormatError as exc:
        _fail(str(exc))
    click.echo(f"exported {count} records to {file}")


@click.command("create-user")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(
    ["enterprise", "investor", "bank", "operator", "admin"]))  # fmt: skip
@click.option("--org", "org_ref", default=None, help="ref of an enterprise or funder")
@click.option("--password", default=None, help="prompted for when omitted")
@click.option("--name", default="")
@with_appcontext
def create_user_cmd(
    email: str, role: str, org_ref: str | None, password: str | None, name: str
) -> None:
    """Create an account, optionally a member of an organisation."""
    from techfin.services import accounts

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        org = accounts.find_organization(org_ref) if org_ref else None
        user = accounts.create_user(email, password, role, name=name, organization=org,
                                    org_role="owner")  # fmt: skip
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        _fail(_domain_message(err))
    click.echo(f"created {user.email} ({user.role})")


@click.group("api-token", cls=AppGroup)
def api_token() -> None:
    """Bearer tokens for the JSON API."""


@api_token.command("create")  # AppGroup: runs in an app context
@click.argument("email")
@click.option("--name", default="cli")
def api_token_create(email: str, name: str) -> None:
    """Print a new token as the last word of the output."""
    from techfin.services import accounts

    user = accounts.find_user(email)
    if user is None:
        _fail(f"no user {email}")
    click.echo(f"token for {user.email}: {accounts.create_api_token(user, name)}")


@api_token.command("revoke")  # AppGroup: runs in an app context
@click.argument("email")
def api_token_revoke(email: str) -> None:
    """Revoke every token of a user."""
    from techfin.services import accounts

    user = accounts.find_user(email)
    if user is None:
        _fail(f"no user {email}")
    click.echo(f"revoked {accounts.revoke_api_tokens(user)} token(s)")


@click.command("demo-data")
@click.option("--enterprises", default=120, show_default=True, type=click.IntRange(1, 200000))
@click.option("--seed", default=2026, show_default=True, type=int)
@click.option("--accounts/--no-accounts", default=True, help="Also create one demo login per role")
@with_appcontext
def demo_data(enterprises: int, seed: int, accounts: bool) -> None:
    """Load a realistic, deterministic demo data set through the import path."""
    from techfin.services import demo
    from techfin.services.interchange import import_records

    records = list(demo.generate(enterprises=enterprises, seed=seed))
    if len(records) > 2000:
        with _progressbar(2 * len(records), "Importing") as bar:
            report = import_records(_consume(records), actor="demo-data", progress=bar.update)
    else:
        report = import_records(records, actor="demo-data")
    if not report.committed:
        for error in report.errors[:20]:
            click.echo(str(error), err=True)
        _fail("demo data did not validate")
    click.echo(report.summary())
    if accounts:
        for line in demo.ensure_accounts():
            click.echo(line)


search_cli = AppGroup("search", help="The search index: rebuild, catch up, check.")


@contextlib.contextmanager
def _search_errors_as_messages() -> Iterator[None]:
    """A missing, damaged or busy index is an operator's situation, not a crash: one line
    that says what to do, exit status 1 (cron mails it), no traceback."""
    from techfin.search import SearchError

    try:
        yield
    except SearchError as exc:
        raise click.ClickException(str(exc)) from None


@search_cli.command("reindex")
def search_reindex() -> None:
    """Rebuild the index from the database and swap it in atomically."""
    from techfin.services import search_sync

    def merging(segments: int) -> None:
        click.echo(f"\nmerging {segments} segments into one (about 30 s per 100 000 "
                   "documents)")  # fmt: skip

    with click.progressbar(length=search_sync.doc_estimate(), label="Indexing") as bar:
        count = search_sync.reindex(progress=lambda done, _total: bar.update(done - bar.pos),
                                    merging=merging)  # fmt: skip
    click.echo(f"indexed {count} documents")


@search_cli.command("compact")
@click.option("--at-least", type=click.IntRange(2, 10_000), default=2, show_default=True,
              help="Merge only when the index has at least this many segments.")  # fmt: skip
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Merge every segment into one, the biggest too (minutes at region scale).",
)
def search_compact(at_least: int, everything: bool) -> None:
    """Merge the small segments of this host's index into one (the scheduled check does it
    from COMPACT_AT segments); searches go on meanwhile."""
    from techfin.services import search_sync

    with _search_errors_as_messages():
        result = search_sync.compact(at_least, everything=everything)
    click.echo(f"segments: {result['before']} before, {result['after']} after")


@search_cli.command("sync")
def search_sync_cmd() -> None:
    """Apply pending changes from the outbox (safe to run from cron)."""
    from techfin.services import search_sync

    with _search_errors_as_messages():
        applied = search_sync.sync(background=True)
    click.echo(f"applied {applied} change(s)")


@search_cli.command("check")
def search_check() -> None:
    """Compare the index with the database; exit 1 on drift."""
    from techfin.services import search_sync

    with _search_errors_as_messages():
        drift = search_sync.check()
    total = sum(len(v) for v in drift.values())
    for kind, keys in drift.items():
        for key in keys[:50]:
            click.echo(f"{kind}: {key[0]} {key[1]}")
    if total:
        raise click.ClickException(f"index drift: {total} document(s); run `flask search sync`")
    click.echo("index is consistent with the database")


digests_cli = AppGroup("digests", help="Email digests of new matches.")


@digests_cli.command("send")
@click.option("--period", type=click.Choice(["daily", "weekly"]), default=None,
              help="Only this period (default: both)")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show who would get what; send and record nothing.")
def digests_send(period: str | None, dry_run: bool) -> None:
    """Send the digests that are due, exactly once (safe to run from cron)."""
    from techfin.services import digests

    report = digests.send_due(period, dry_run=dry_run)
    if dry_run:
        for email, count in report.would_send:
            click.echo(f"would send {email}: {count} new match(es)")
    click.echo(report.summary())


from techfin.tasks.worker import worker  # noqa: E402 - the command lives with the queue


def init_app(app: Flask) -> None:
    for command in (
        import_data,
        export_data,
        create_user_cmd,
        api_token,
        demo_data,
        search_cli,
        digests_cli,
        matching_cli,
        worker,
    ):
        app.cli.add_command(command)


matching_cli = AppGroup("matching", help="The matching model and the stored matches.")


def _matching_metrics(metrics: dict) -> None:
    def fmt(value: float | None) -> str:
        return "   —" if value is None else f"{value:.3f}"

    click.echo(f"hold-out: {metrics.get('n_holdout', 0)} decided pairs from "
               f"{metrics.get('holdout_from') or '—'} ({metrics.get('n_holdout_needs', 0)} needs "
               f"with both outcomes); trained on {metrics.get('n_train', 0)} older pairs")  # fmt: skip
    click.echo(f"{'':<9}{'NDCG@10':>9}{'P@5':>9}{'ROC AUC':>9}")
    for name in ("learned", "prior", "random"):
        row = metrics.get(name) or {}
        click.echo(f"{name:<9}{fmt(row.get('ndcg@10')):>9}{fmt(row.get('precision@5')):>9}"
                   f"{fmt(row.get('roc_auc')):>9}")  # fmt: skip


@matching_cli.command("train")
@click.option("--force", is_flag=True, help="Save the model even if it does not beat the prior.")
def matching_train(force: bool) -> None:
    """Train the ranking model from recorded outcomes; print its hold-out metrics."""
    from techfin.services import matching

    result = matching.train_model(force=force)
    click.echo(f"{result.examples} decided pairs: {result.positives} approved or funded, "
               f"{result.examples - result.positives} declined")  # fmt: skip
    if result.model is None:
        click.echo(f"not enough outcomes to train ({result.reason}): "
                   "the rule-based prior stays in use")  # fmt: skip
        return
    _matching_metrics(result.metrics)
    if result.path is None:
        click.echo(f"not saved: {result.reason}; the rule-based prior stays in use "
                   "(--force saves it anyway)")  # fmt: skip
        return
    click.echo(f"saved model {result.model.version} to {result.path}")
    click.echo("every stored ranking marked stale: the task workers recompute them "
               "(`flask matching refresh` does it in this process)")  # fmt: skip


@matching_cli.command("evaluate")
def matching_evaluate() -> None:
    """NDCG@10, precision@5 and ROC AUC of a model, the prior and random order on the
    time-ordered hold-out (the newest 20 % of decisions)."""
    from techfin.services import matching

    examples, metrics = matching.evaluate_models()
    click.echo(f"{len(examples)} decided pairs")
    if not metrics:
        click.echo("nothing to evaluate yet: record approved and declined outcomes first")
        return
    _matching_metrics(metrics)
    if metrics.get("learned") is None:
        click.echo("too few older outcomes to fit a model: the rule-based prior stays in use")


@matching_cli.command("refresh")
@click.option("--queue", "queued", is_flag=True,
              help="Mark every need stale for the workers instead of computing here.")  # fmt: skip
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Processes to rank in (default: one per core).")  # fmt: skip
def matching_refresh(queued: bool, jobs: int | None) -> None:
    """Recompute every need's stored matches now, with a progress bar (or, with --queue,
    leave it to the task workers, which share the chunks)."""
    from techfin.extensions import db
    from techfin.services import matching

    if queued:
        matching.mark_all_dirty(db.session)
        db.session.commit()
        click.echo("every need marked stale: the task workers recompute them")
        return
    with click.progressbar(length=matching.need_count(), label="stored matches",
                           file=sys.stderr) as bar:  # fmt: skip
        report = matching.refresh_everything(bar.update, jobs=jobs or os.cpu_count() or 1)
    click.echo(report.summary())
