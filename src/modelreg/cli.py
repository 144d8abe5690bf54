"""The `modelreg` command line. Scripts depend on it: `org`, `user` and `key` print exactly one JSON
object on stdout; errors go to stderr with a non-zero exit code."""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import msgspec
import typer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.config import Settings, database_timeouts, load_settings
from modelreg.crypto import SecretBox
from modelreg.domain.errors import DomainError
from modelreg.services import audit, directory, identity
from modelreg.services.providers import rotate_secrets
from modelreg.store.database import Database
from modelreg.store.faults import fault_kind
from modelreg.store.migrate import UnmigratedDatabase, check_at_head_sync, upgrade_to_head

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="modelreg: LLM model registry and gateway.")
org_app = typer.Typer(no_args_is_help=True, help="Organizations.")
user_app = typer.Typer(no_args_is_help=True, help="Users.")
key_app = typer.Typer(no_args_is_help=True, help="API keys.")
secrets_app = typer.Typer(no_args_is_help=True, help="Encrypted provider secrets.")
catalog_app = typer.Typer(no_args_is_help=True, help="The built-in catalog.")
group_app = typer.Typer(no_args_is_help=True, help="Groups of users (for access grants).")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="key")
app.add_typer(secrets_app, name="secrets")
app.add_typer(catalog_app, name="catalog")
app.add_typer(group_app, name="group")


ORG_OPTION = typer.Option("--org", help="Organization id or name.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _emit(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.database_url, database_timeouts(settings))
        try:
            with audit.acting("cli"):
                async with db.write() as session:
                    return await work(session)
        finally:
            await db.dispose()

    try:
        check_at_head_sync(settings.database_url)
        return asyncio.run(run())
    except UnmigratedDatabase as exc:
        raise _fail(str(exc)) from None
    except DomainError as exc:
        raise _fail(exc.message) from None
    except IntegrityError:  # a concurrent command created the same name or email first
        raise _fail("conflicting change (a concurrent command wrote the same name or email); nothing changed") from None


@app.command()
def migrate() -> None:
    """Apply every pending database migration."""
    settings = load_settings()
    upgrade_to_head(settings.database_url)
    typer.echo("database is at the newest schema", err=True)


def _wait_for_database(settings: Settings) -> None:
    """Retry the database with backoff for db_wait_seconds (one line per attempt), then give up in one line.
    A database that answers but is not migrated is an error at once: waiting would not fix it."""
    deadline = time.monotonic() + settings.db_wait_seconds
    delay, attempt = 0.5, 0
    timeout = settings.db_connect_timeout
    while True:
        attempt += 1
        try:
            check_at_head_sync(settings.database_url, timeout)
            return
        except UnmigratedDatabase as exc:
            raise _fail(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - every failure ends in one line
            kind = fault_kind(exc)
            if kind is None:  # e.g. a wrong password or database name: retrying will not help
                raise _fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _fail(
                    f"database not reachable ({kind}) after {attempt} attempts in {settings.db_wait_seconds:g} s; "
                    "check MODELREG_DATABASE_URL (MODELREG_DB_WAIT_SECONDS sets how long to wait)"
                ) from None
            wait = min(delay, remaining)
            typer.echo(f"waiting for the database ({kind}), attempt {attempt}; next try in {wait:.1f} s", err=True)
            time.sleep(wait)
            delay = min(delay * 2, 5.0)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on. The server binds with SO_REUSEPORT, which would let two
    servers share the port silently (and split requests between them); this bind without it fails instead."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise _fail(f"{host}:{port} {reason}") from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default MODELREG_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default MODELREG_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with granian (waits up to MODELREG_DB_WAIT_SECONDS for the database)."""
    from granian import Granian  # imported here: the other commands do not need the server
    from granian.constants import Interfaces

    settings = load_settings()
    address, port = host or settings.host, port or settings.port
    if not 1 <= port <= 65535:
        raise _fail(f"port must be between 1 and 65535, not {port}")
    _check_port_free(address, port)
    _wait_for_database(settings)
    server = Granian(
        target="modelreg.app:create_app",
        factory=True,
        address=address,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
    )
    typer.echo(f"serving on http://{address}:{port}", err=True)
    server.serve()


@app.command()
def bootstrap(
    admin_email: Annotated[str, typer.Option(help="Email of the first admin.")] = "admin@modelreg.local",
) -> None:
    """On an empty database: create a default organization and an admin; prints {"organization_id", "user_id",
    "api_key"} (the key this once), or {"already_bootstrapped": true}."""
    settings = load_settings()

    async def work(session: AsyncSession) -> identity.CreatedOrganization | None:
        if await identity.organization_count(session) > 0:
            return None
        return await identity.create_organization(session, "default", admin_email)

    created = _in_transaction(settings, work)
    if created is None:
        typer.echo("database already has an organization; nothing to bootstrap", err=True)
        _emit({"already_bootstrapped": True})
        return
    typer.echo(f"created organization 'default' and admin {admin_email}; the API key is shown only once", err=True)
    _emit({"organization_id": created.organization_id, "user_id": created.user_id, "api_key": created.api_key})


@org_app.command("create")
def org_create(
    name: str,
    admin_email: Annotated[str, typer.Option("--admin-email")],
    admin_password: Annotated[str | None, typer.Option("--admin-password")] = None,
) -> None:
    """Create an organization with its first admin; prints organization_id, user_id and api_key."""
    created = _in_transaction(
        load_settings(), lambda s: identity.create_organization(s, name, admin_email, admin_password)
    )
    _emit({"organization_id": created.organization_id, "user_id": created.user_id, "api_key": created.api_key})


@user_app.command("create")
def user_create(
    org: Annotated[str, ORG_OPTION],
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[str, typer.Option("--role", help="admin or member.")] = "member",
    password: Annotated[str | None, typer.Option("--password")] = None,
) -> None:
    """Create a user in an organization."""

    async def work(session: AsyncSession) -> Any:
        return await identity.create_user(session, await directory.resolve_org(session, org), email, role, password)

    user = _in_transaction(load_settings(), work)
    _emit({"user_id": user.id, "organization_id": user.organization_id})


@key_app.command("create")
def key_create(
    email: Annotated[str, typer.Option("--email")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    expires_in_days: Annotated[int | None, typer.Option("--expires-in-days")] = None,
) -> None:
    """Create an API key acting as the user; the key is printed this once only."""
    key = _in_transaction(load_settings(), lambda s: identity.create_api_key_for_email(s, email, name, expires_in_days))
    _emit({"key_id": key.key_id, "api_key": key.api_key})


@key_app.command("revoke")
def key_revoke(key_id: str) -> None:
    """Revoke an API key; running servers stop accepting it within the cache poll interval (1 s)."""

    async def work(session: AsyncSession) -> None:
        await identity.revoke_api_key(session, key_id)

    _in_transaction(load_settings(), work)
    _emit({"key_id": key_id, "revoked": True})


@group_app.command("create")
def group_create(
    name: str,
    org: Annotated[str, ORG_OPTION],
) -> None:
    """Create a group in an organization; prints {"group_id": ...}."""

    async def work(session: AsyncSession) -> Any:
        return await identity.create_group(session, await directory.resolve_org(session, org), name)

    group = _in_transaction(load_settings(), work)
    _emit({"group_id": group.id})


@group_app.command("add-member")
def group_add_member(group_id: str, email: Annotated[str, typer.Option("--email")]) -> None:
    """Add a user (of the group's organization) to a group."""

    async def work(session: AsyncSession) -> bool:
        user = await identity.find_user(session, email=email)
        return await identity.add_group_member(session, group_id, user)

    added = _in_transaction(load_settings(), work)
    _emit({"group_id": group_id, "email": email.strip().lower(), "added": added})


async def _org_id(session: AsyncSession, org: str | None) -> str | None:
    return None if org is None else await directory.resolve_org(session, org)


@org_app.command("list")
def org_list() -> None:
    """{"organizations": [{id, name, created_at, users}]}."""
    entries = _in_transaction(load_settings(), directory.organizations)
    _emit({"organizations": msgspec.to_builtins(entries)})


@user_app.command("list")
def user_list(org: Annotated[str | None, ORG_OPTION] = None) -> None:
    """{"users": [{id, organization_id, email, role, created_at}]}, of one organization or all."""

    async def work(session: AsyncSession) -> Any:
        return await directory.users(session, await _org_id(session, org))

    _emit({"users": msgspec.to_builtins(_in_transaction(load_settings(), work))})


@key_app.command("list")
def key_list(
    email: Annotated[str | None, typer.Option("--email", help="Only this user's keys.")] = None,
    org: Annotated[str | None, ORG_OPTION] = None,
) -> None:
    """{"keys": [{id, name, owner_email, organization_id, created_at, last_used_at, expires_at, revoked_at}]};
    never the key itself (only its hash is stored)."""

    async def work(session: AsyncSession) -> Any:
        return await directory.keys(session, email=email, organization_id=await _org_id(session, org))

    _emit({"keys": msgspec.to_builtins(_in_transaction(load_settings(), work))})


@group_app.command("list")
def group_list(org: Annotated[str | None, ORG_OPTION] = None) -> None:
    """{"groups": [{id, organization_id, name, members}]} (members by email)."""

    async def work(session: AsyncSession) -> Any:
        return await directory.groups(session, await _org_id(session, org))

    _emit({"groups": msgspec.to_builtins(_in_transaction(load_settings(), work))})


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every provider secret with MODELREG_SECRET_KEY (old keys in MODELREG_OLD_SECRET_KEYS)."""
    settings = load_settings()
    box = SecretBox(settings.secret_key, settings.old_secret_keys)
    count = _in_transaction(settings, lambda s: rotate_secrets(s, box))
    _emit({"rotated": count})


SHOWN_REMOVALS = 50


def _read_source(source: str) -> bytes:
    """The source's bytes; any failure is one line (no traceback), naming the source without credentials."""
    from modelreg.catalog import apply

    try:
        return apply.fetch(source)
    except apply.CatalogError as exc:
        raise _fail(str(exc)) from None


def _install_catalog(
    settings: Settings,
    candidate_of: Callable[[AsyncSession, dict[str, Any]], Awaitable[tuple[dict[str, Any], str]]],
    *,
    dry_run: bool,
    allow_removals: bool,
) -> Any:
    """Diff a candidate catalog against the one in force and (unless a dry run) install it in one
    transaction (catalog/apply.py, shared with the scheduled sync of servers)."""
    from modelreg.catalog import apply

    async def work(session: AsyncSession) -> Any:
        try:
            return await apply.install(
                session, functools.partial(candidate_of, session), dry_run=dry_run, allow_removals=allow_removals
            )
        except apply.Refused as exc:
            _show_removals(exc.would_remove)
            raise _fail(f"{exc}; nothing changed. Pass --allow-removals to install it anyway") from None
        except apply.CatalogError as exc:
            raise _fail(str(exc)) from None

    return _in_transaction(settings, work)


def _show_removals(names: list[str]) -> None:
    shown = names[:SHOWN_REMOVALS]
    lines = ["would remove:", *(f"  {name}" for name in shown)]
    if len(names) > len(shown):
        lines.append(f"  ... and {len(names) - len(shown)} more (--dry-run lists them all)")
    typer.echo("\n".join(lines), err=True)


def _report(diff: Any, dry_run: bool, verb: str) -> None:
    typer.echo(
        f"catalog {'diff (dry run, nothing changed)' if dry_run else verb}: "
        f"{len(diff.added)} added, {len(diff.changed)} changed, {len(diff.removed)} removed"
        + (
            f", {len(diff.kept_deprecated)} kept as deprecated (custom models use them)" if diff.kept_deprecated else ""
        ),
        err=True,
    )
    result: dict[str, Any] = {"dry_run": dry_run, **diff.summary()}
    if dry_run:
        result.update(added_models=diff.added, changed_models=diff.changed, removed_models=diff.removed)
    _emit(result)


ALLOW_REMOVALS = typer.Option(
    "--allow-removals", help="Install even if it empties the catalog or removes more than 5% of its models."
)


@catalog_app.command("sync")
def catalog_sync(
    source: Annotated[str, typer.Option("--from", help="A file path or an http(s) URL.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="litellm, genai-prices or modelreg (default: detected).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; change nothing.")] = False,
    allow_removals: Annotated[bool, ALLOW_REMOVALS] = False,
) -> None:
    """Refresh the built-in catalog from a file or URL; running servers pick it up within seconds."""
    from modelreg.catalog import apply
    from modelreg.catalog.history import safe_origin

    settings = load_settings()
    raw = _read_source(source)

    async def candidate(session: AsyncSession, current: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return apply.candidate_from(raw, fmt, current), safe_origin(source)

    diff = _install_catalog(settings, candidate, dry_run=dry_run, allow_removals=allow_removals)
    _report(diff, dry_run, "installed")


@catalog_app.command("history")
def catalog_history() -> None:
    """Every installed catalog, newest first: {"catalogs": [{id, installed_at, origin, models, added, ...}]}."""
    from modelreg.catalog import history

    entries = _in_transaction(load_settings(), history.history)
    _emit({"catalogs": msgspec.to_builtins(entries)})


@catalog_app.command("rollback")
def catalog_rollback(
    snapshot_id: Annotated[
        int | None, typer.Argument(help="A catalog id from `catalog history` (default: the one before the newest).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; change nothing.")] = False,
    allow_removals: Annotated[bool, ALLOW_REMOVALS] = False,
) -> None:
    """Restore an earlier catalog, atomically, as a sync would (it becomes the newest entry of the history)."""
    from modelreg.catalog import history

    async def candidate(session: AsyncSession, current: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return await history.rollback_target(session, snapshot_id)

    diff = _install_catalog(load_settings(), candidate, dry_run=dry_run, allow_removals=allow_removals)
    _report(diff, dry_run, "restored")


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
