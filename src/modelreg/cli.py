"""The `modelreg` command line. Scripts depend on it: `org`, `user` and `key` print exactly one JSON
object on stdout; errors go to stderr with a non-zero exit code."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec
import typer
from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.config import Settings, load_settings
from modelreg.crypto import SecretBox
from modelreg.domain.errors import DomainError
from modelreg.services import audit, identity
from modelreg.services.providers import rotate_secrets
from modelreg.store.database import Database
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


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _emit(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.database_url)
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


@app.command()
def migrate() -> None:
    """Apply every pending database migration."""
    settings = load_settings()
    upgrade_to_head(settings.database_url)
    typer.echo("database is at the newest schema", err=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default MODELREG_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MODELREG_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with granian."""
    from granian import Granian  # imported here: the other commands do not need the server
    from granian.constants import Interfaces

    settings = load_settings()
    try:
        check_at_head_sync(settings.database_url)
    except UnmigratedDatabase as exc:
        raise _fail(str(exc)) from None
    server = Granian(
        target="modelreg.app:create_app",
        factory=True,
        address=host or settings.host,
        port=port or settings.port,
        interface=Interfaces.ASGI,
        workers=workers,
    )
    typer.echo(f"serving on http://{host or settings.host}:{port or settings.port}", err=True)
    server.serve()


@app.command()
def bootstrap(
    admin_email: Annotated[str, typer.Option(help="Email of the first admin.")] = "admin@modelreg.local",
) -> None:
    """On an empty database: create a default organization and an admin, and print the admin's API key once."""
    settings = load_settings()

    async def work(session: AsyncSession) -> identity.CreatedOrganization | None:
        if await identity.organization_count(session) > 0:
            return None
        return await identity.create_organization(session, "default", admin_email)

    created = _in_transaction(settings, work)
    if created is None:
        typer.echo("database already has an organization; nothing to bootstrap", err=True)
        return
    typer.echo(
        f"\nCreated organization 'default' ({created.organization_id}) and admin {admin_email}.\n"
        f"Admin API key (shown only once, store it now):\n\n    {created.api_key}\n",
        err=True,
    )


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
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[str, typer.Option("--role", help="admin or member.")] = "member",
    password: Annotated[str | None, typer.Option("--password")] = None,
) -> None:
    """Create a user in an organization."""
    user = _in_transaction(load_settings(), lambda s: identity.create_user(s, org, email, role, password))
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
    org: Annotated[str, typer.Option("--org", help="Organization id.")],
) -> None:
    """Create a group in an organization; prints {"group_id": ...}."""
    group = _in_transaction(load_settings(), lambda s: identity.create_group(s, org, name))
    _emit({"group_id": group.id})


@group_app.command("add-member")
def group_add_member(group_id: str, email: Annotated[str, typer.Option("--email")]) -> None:
    """Add a user (of the group's organization) to a group."""

    async def work(session: AsyncSession) -> None:
        user = await identity.find_user(session, email=email)
        await identity.add_group_member(session, group_id, user)

    _in_transaction(load_settings(), work)
    _emit({"group_id": group_id, "email": email.strip().lower(), "added": True})


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every provider secret with MODELREG_SECRET_KEY (old keys in MODELREG_OLD_SECRET_KEYS)."""
    settings = load_settings()
    box = SecretBox(settings.secret_key, settings.old_secret_keys)
    count = _in_transaction(settings, lambda s: rotate_secrets(s, box))
    _emit({"rotated": count})


MAX_CATALOG_BYTES = 200 * 1024 * 1024


def _read_source(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        import httpx

        with httpx.Client(timeout=60, follow_redirects=True) as client, client.stream("GET", source) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_CATALOG_BYTES:
                    raise _fail(f"{source} is larger than {MAX_CATALOG_BYTES} bytes")
                chunks.append(chunk)
        return b"".join(chunks)
    path = Path(source)
    if not path.is_file():
        raise _fail(f"{source}: no such file")
    return path.read_bytes()


@catalog_app.command("sync")
def catalog_sync(
    source: Annotated[str, typer.Option("--from", help="A file path or an http(s) URL.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="litellm, genai-prices or modelreg (default: detected).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; change nothing.")] = False,
) -> None:
    """Refresh the built-in catalog from a file or URL; running servers pick it up within seconds."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    from modelreg.catalog import sync
    from modelreg.catalog.sources import CatalogFormatError

    settings = load_settings()
    columns = (SpinnerColumn(), BarColumn(), TextColumn("{task.description}"))
    with Progress(*columns, transient=True, console=_stderr()) as progress:
        task = progress.add_task(f"reading {source}", total=5)
        raw = _read_source(source)
        progress.update(task, advance=1, description="validating")

        async def work(session: AsyncSession) -> sync.CatalogDiff:
            current = await sync.installed_snapshot(session)
            try:
                candidate = sync.convert(raw, fmt, current)
                sync.parse_catalog(candidate)  # the whole catalog must load before anything is written
            except (CatalogFormatError, ValueError, msgspec.ValidationError) as exc:
                raise _fail(f"invalid catalog: {exc}") from None
            progress.update(task, advance=1, description="comparing")
            removed = {e["model_name"] for e in current["models"]} - {e["model_name"] for e in candidate["models"]}
            referenced = await sync.referenced_builtins(session, removed)
            final, kept = sync.keep_referenced(current, candidate, referenced)
            diff = sync.diff_snapshots(current, final, kept)
            progress.update(task, advance=1, description="installing")
            if not dry_run:
                touched = set(diff.changed) | set(diff.removed) | set(kept)
                await sync.install_snapshot(session, final, sync.parse_catalog(final), touched, diff.summary())
            progress.update(task, advance=2)
            return diff

        diff = _in_transaction(settings, work)
    typer.echo(
        f"catalog {'diff (dry run, nothing changed)' if dry_run else 'installed'}: "
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


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
