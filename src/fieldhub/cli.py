"""The ``fieldhub`` command: serve, migrate and administer realms, users, groups and applications.

Every command works on the same configuration as the server (``FIELDHUB_DATA_DIR``,
``FIELDHUB_DATABASE_URL``, ...) and may run while the server does.  With ``--json`` a command
prints exactly one JSON object on stdout; failures print one line on stderr and exit non-zero.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from fieldhub.attachments.commands import build_apiuser_app
from fieldhub.core.config import ConfigError, Settings, load_settings
from fieldhub.core.db import Database, make_engine
from fieldhub.core.errors import FieldhubError
from fieldhub.core.identity.bootstrap import BootstrapResult, bootstrap_if_empty
from fieldhub.core.identity.models import Application, Group, Realm, User
from fieldhub.core.identity.service import IdentityService
from fieldhub.insight.commands import register as register_insight_commands
from fieldhub.migrations import upgrade_to_head
from fieldhub.snapshots.commands import build_client_app

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
realm_app = typer.Typer(help="Realms (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Users of a realm.", no_args_is_help=True)
group_app = typer.Typer(help="Groups of a realm.", no_args_is_help=True)
app_app = typer.Typer(help="Applications of a realm and their roles.", no_args_is_help=True)
app.add_typer(realm_app, name="realm")
app.add_typer(user_app, name="user")
app.add_typer(group_app, name="group")
app.add_typer(app_app, name="app")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
RealmOption = Annotated[str, typer.Option("--realm", help="Realm name.")]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str) -> typer.Exit:
    # Plain writes, not a rich console: rich wraps long lines at 80 columns when not on a terminal,
    # and scripts rely on the reason being exactly one line.
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()
    return typer.Exit(code=1)


def _database_failure(exc: Exception) -> typer.Exit:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return _fail(f"database error: {lines[0] if lines else type(cause).__name__}")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _migrate(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade_to_head(settings.resolved_database_url)
    except OSError as exc:
        raise _fail(f"data directory {settings.data_dir}: {exc.strerror or exc}") from None
    except (SQLAlchemyError, CommandError) as exc:
        raise _database_failure(exc) from None


@contextmanager
def _identity() -> Iterator[IdentityService]:
    """An identity service in one unit of work that commits when the command succeeds."""
    settings = _settings()
    _migrate(settings)
    db = Database(
        make_engine(settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    )
    try:
        with db.unit_of_work() as uow:
            yield IdentityService(session=uow.session)
    except FieldhubError as exc:
        raise _fail(exc.message) from None
    except SQLAlchemyError as exc:
        raise _database_failure(exc) from None
    finally:
        db.dispose()


def _emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(payload).decode() + "\n")
    elif human:
        sys.stdout.write(human + "\n")
    sys.stdout.flush()


def realm_json(realm: Realm) -> dict[str, Any]:
    return {"id": str(realm.id), "name": realm.name, "createdAt": realm.created_at.isoformat()}


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "admin": user.is_admin,
        "roles": user.roles,
    }


def group_json(group: Group) -> dict[str, Any]:
    return {"id": str(group.id), "name": group.name}


def application_json(application: Application) -> dict[str, Any]:
    return {
        "id": application.id,
        "number": application.number,
        "name": application.name,
        "currentVersion": application.current_version,
    }


# server -------------------------------------------------------------------------------------
@app.command()
def migrate(as_json: JsonFlag = False) -> None:
    """Apply the database migrations."""
    _migrate(_settings())
    _emit(as_json, {"migrated": True}, "Database is up to date.")


def _bootstrap_json(result: BootstrapResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "realm": result.realm,
        "application": result.application_id,
        "username": result.username,
        "passwordFile": str(result.password_file) if result.password_file else None,
    }


@app.command()
def serve(as_json: JsonFlag = False) -> None:
    """Migrate, bootstrap an empty database, and serve every API family."""
    from fieldhub.server import run

    settings = _settings()
    with _identity() as identity:
        result = bootstrap_if_empty(
            identity, data_dir=settings.data_dir, admin_password=settings.admin_password
        )
    if result is not None:
        where = f" (also written to {result.password_file})" if result.password_file else ""
        shown = result.generated_password or "the value of FIELDHUB_ADMIN_PASSWORD"
        # Printed once, here: the generated password is never logged anywhere else.
        sys.stderr.write(
            f"Bootstrapped realm '{result.realm}', application Demo ({result.application_id}), "
            f"admin user '{result.username}' with password: {shown}{where}\n"
        )
        sys.stderr.flush()
    listening = f"http://{settings.host}:{settings.port}"
    _emit(as_json, {"listening": listening, "bootstrapped": _bootstrap_json(result)}, "")
    run(settings)


# realms -------------------------------------------------------------------------------------
@realm_app.command("create")
def realm_create(name: str, as_json: JsonFlag = False) -> None:
    """Create a realm."""
    with _identity() as identity:
        payload = realm_json(identity.create_realm(name=name))
    _emit(as_json, payload, f"Created realm {payload['name']} ({payload['id']})")


@realm_app.command("list")
def realm_list(as_json: JsonFlag = False) -> None:
    """List realms."""
    with _identity() as identity:
        realms = [realm_json(realm) for realm in identity.realms()]
    _emit(as_json, {"realms": realms}, "\n".join(f"{r['name']}\t{r['id']}" for r in realms))


# users --------------------------------------------------------------------------------------
@user_app.command("create")
def user_create(
    realm: RealmOption,
    username: Annotated[str, typer.Option("--username")],
    password: Annotated[str, typer.Option("--password")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    first_name: Annotated[str | None, typer.Option("--first-name")] = None,
    last_name: Annotated[str | None, typer.Option("--last-name")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a realm admin.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a user in a realm."""
    with _identity() as identity:
        user = identity.create_user(
            realm=identity.realm(name=realm),
            username=username,
            password=password,
            email=email,
            first_name=first_name,
            last_name=last_name,
            is_admin=admin,
        )
        payload = user_json(user)
    _emit(as_json, payload, f"Created user {username} ({payload['id']})")


@user_app.command("list")
def user_list(realm: RealmOption, as_json: JsonFlag = False) -> None:
    """List the users of a realm."""
    with _identity() as identity:
        users = [user_json(user) for user in identity.users(realm=identity.realm(name=realm))]
    _emit(
        as_json,
        {"users": users},
        "\n".join(f"{u['username']}\t{u['id']}\t{','.join(u['roles'])}" for u in users),
    )


@user_app.command("set-password")
def user_set_password(
    realm: RealmOption,
    username: Annotated[str, typer.Option("--username")],
    password: Annotated[str, typer.Option("--password")],
    as_json: JsonFlag = False,
) -> None:
    """Set a user's password."""
    with _identity() as identity:
        payload = user_json(
            identity.set_password(realm=identity.realm(name=realm), username=username, password=password)
        )
    _emit(as_json, payload, f"Password of {username} changed")


# groups -------------------------------------------------------------------------------------
@group_app.command("create")
def group_create(
    realm: RealmOption, name: Annotated[str, typer.Option("--name")], as_json: JsonFlag = False
) -> None:
    """Create a group in a realm."""
    with _identity() as identity:
        payload = group_json(identity.create_group(realm=identity.realm(name=realm), name=name))
    _emit(as_json, payload, f"Created group {name} ({payload['id']})")


@group_app.command("add-member")
def group_add_member(
    realm: RealmOption,
    group: Annotated[str, typer.Option("--group")],
    username: Annotated[str, typer.Option("--username")],
    as_json: JsonFlag = False,
) -> None:
    """Add a user to a group."""
    with _identity() as identity:
        found = identity.add_member(realm=identity.realm(name=realm), group_name=group, username=username)
        payload = {**group_json(found), "member": username}
    _emit(as_json, payload, f"Added {username} to {group}")


# applications -------------------------------------------------------------------------------
@app_app.command("create")
def app_create(
    realm: RealmOption, name: Annotated[str, typer.Option("--name")], as_json: JsonFlag = False
) -> None:
    """Create an application in a realm."""
    with _identity() as identity:
        payload = application_json(identity.create_application(realm=identity.realm(name=realm), name=name))
    _emit(
        as_json,
        payload,
        f"Created application {name} ({payload['id']}, number {payload['number']})",
    )


@app_app.command("list")
def app_list(realm: RealmOption, as_json: JsonFlag = False) -> None:
    """List the applications of a realm."""
    with _identity() as identity:
        apps = [application_json(a) for a in identity.applications(realm=identity.realm(name=realm))]
    _emit(
        as_json,
        {"applications": apps},
        "\n".join(f"{a['number']}\t{a['id']}\t{a['name']}" for a in apps),
    )


@app_app.command("grant")
def app_grant(
    realm: RealmOption,
    app_id: Annotated[str, typer.Option("--app", help="Application id (24 hex digits).")],
    role: Annotated[str, typer.Option("--role", help="manager or user.")],
    username: Annotated[str | None, typer.Option("--username")] = None,
    group: Annotated[str | None, typer.Option("--group")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Grant a user or a group a role in an application."""
    with _identity() as identity:
        grant = identity.grant(
            realm=identity.realm(name=realm),
            application_id=app_id,
            role=role,
            username=username,
            group_name=group,
        )
        payload = {
            "id": str(grant.id),
            "application": app_id,
            "role": role,
            "username": username,
            "group": group,
        }
    _emit(as_json, payload, f"Granted {role} in {app_id} to {username or group}")


app.add_typer(build_apiuser_app(open_identity=_identity, emit=_emit), name="apiuser")
app.add_typer(build_client_app(open_identity=_identity, emit=_emit), name="client")


register_insight_commands(user_app, settings=_settings, identity=_identity, emit=_emit)


def main() -> None:
    app()
