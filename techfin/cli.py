"""flask commands: bulk data, accounts, tokens, demo data (`flask --app wsgi --help`)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from techfin.errors import DomainError
from techfin.extensions import db


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _domain_message(err: DomainError) -> str:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in err.fields.items())
    return f"{err.message} ({details})" if details else err.message


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
        with click.progressbar(length=len(records), label="Validating", file=None) as bar:
            report = import_records(records, skip_invalid=skip_invalid, progress=bar.update,
                                    actor=f"import:{file.name}")  # fmt: skip
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

    records = demo.generate(enterprises=enterprises, seed=seed)
    from techfin.services.interchange import import_records

    report = import_records(records, actor="demo-data")
    if not report.committed:
        for error in report.errors[:20]:
            click.echo(str(error), err=True)
        _fail("demo data did not validate")
    click.echo(report.summary())
    if accounts:
        for line in demo.ensure_accounts():
            click.echo(line)


def init_app(app: Flask) -> None:
    for command in (import_data, export_data, create_user_cmd, api_token, demo_data):
        app.cli.add_command(command)
