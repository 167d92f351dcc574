"""``tiers accounts``: onboarding and account lifecycle at the operator's shell (a thin caller of
``services/onboarding.py``). Without ``--admin`` the actor is the operator's shell (account 0
on the transparency log); with it, the named admin, signed in with password + TOTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tierspayant.bootstrap import Platform, build
from tierspayant.cli.officer import as_officer
from tierspayant.config import Settings
from tierspayant.security.policy import NotFound, Principal
from tierspayant.services.accounts import OPERATOR_SHELL
from tierspayant.services.errors import Forbidden
from tierspayant.services.onboarding import NewAccount
from tierspayant.services.ports import Conflict
from tierspayant.services.records import Organisation, Professional

T = TypeVar("T")
accounts_app = typer.Typer(help="Accounts: organisations, their accounts, enrolment codes, disabling, roles "
                                "(every step on the transparency log).", no_args_is_help=True)
console = Console(soft_wrap=True)

Admin = Annotated[str | None, typer.Option("--admin", help="Act as this admin (asks the password and the current "
                                                           "TOTP code); default: the operator's shell")]
ERRORS: dict[type[Exception], tuple[str, int]] = {
    NotFound: ("no such account, organisation or insurer (or not yours to manage)", 2),
    Forbidden: ("refused: not a role allowed to do this", 1),
}


def run_as(platform: Platform, admin: str | None, action: Callable[[Principal], T],
         errors: dict[type[Exception], tuple[str, int]] = ERRORS) -> T:
    def guarded(principal: Principal) -> T:
        try:
            return action(principal)
        except Conflict as exc:
            raise typer.Exit(_say(f"refused: {exc.field}: {exc.message}", 2)) from None
    return as_officer(platform, admin, "accounts", guarded, errors, signed_in=OPERATOR_SHELL if admin is None else None)


def _say(message: str, code: int) -> int:
    console.print(f"[red]{message}[/red]")
    return code


def _created(account: NewAccount) -> None:
    console.print(f"account [bold]{account.username}[/bold] ({account.role}) created")
    console.print("enrolment code (one-time, 24 h; hand it over out of band, the holder registers a passkey with it):")
    print(account.enrolment_code)


@accounts_app.command("register-organisation")
def register_organisation(
    identifier: Annotated[str, typer.Argument(help="FINESS (9 digits) or SIRET (14 digits) number")],
    name: Annotated[str, typer.Option(help="The organisation's name")],
    admin_username: Annotated[str, typer.Option("--admin-username", help="User name of its first admin")],
    admin: Admin = None,
) -> None:
    """Register an organisation and its first admin account (passkey only: no password)."""
    kind = "FINESS" if len(identifier) == 9 else "SIRET"
    platform = build(Settings.from_env())
    _created(run_as(platform, admin, lambda who: platform.onboarding.register_organisation(
        who, Organisation(0, kind, identifier, name), admin_username)))


@accounts_app.command("add")
def add(
    organisation: Annotated[str, typer.Argument(help="The organisation's FINESS or SIRET number")],
    username: Annotated[str, typer.Argument(help="The new account's user name")],
    role: Annotated[str, typer.Option(help="professional or organisation_admin")] = "professional",
    rpps: Annotated[str | None, typer.Option(help="RPPS number (a professional account)")] = None,
    adeli: Annotated[str | None, typer.Option(help="ADELI number, when the professional has no RPPS")] = None,
    name: Annotated[str | None, typer.Option(help="A new professional's name (registers the professional)")] = None,
    profession: Annotated[str, typer.Option(
        help="optician, general_practitioner, specialist or pharmacist")] = "optician",
    sector: Annotated[str | None, typer.Option(help="A doctor's sector: 1 or 2")] = None,
    optam: Annotated[bool, typer.Option("--optam/--no-optam", help="A sector 2 doctor signed to OPTAM")] = False,
    speciality: Annotated[str | None, typer.Option(help="A specialist's speciality (cardiology, psychiatry...)")] = None,
    am_number: Annotated[str | None, typer.Option("--am-number", help="A new professional's AM number")] = None,
    iban: Annotated[str | None, typer.Option(help="A new professional's IBAN")] = None,
    bic: Annotated[str | None, typer.Option(help="A new professional's BIC")] = None,
    admin: Admin = None,
) -> None:
    """Create an account in an organisation and print its enrolment code. With --name (and
    --am-number, --iban, --bic) the professional is registered too; without, --rpps or --adeli
    names one the organisation already has."""
    professional = None
    if name is not None:
        if am_number is None or iban is None or bic is None:
            raise typer.Exit(_say("a new professional needs --am-number, --iban and --bic", 2))
        professional = Professional(id=0, organisation_id=0, rpps=rpps, adeli=adeli, am_number=am_number,
                                    profession=profession, name=name, iban=iban, bic=bic, optam=optam, sector=sector,
                                    speciality=speciality)
    platform = build(Settings.from_env())
    _created(run_as(platform, admin, lambda who: platform.onboarding.add_account(
        who, organisation, username, role, professional=professional,
        rpps=None if professional else rpps, adeli=None if professional else adeli)))


@accounts_app.command("list")
def list_accounts(organisation: Annotated[str, typer.Argument(help="FINESS or SIRET number")], admin: Admin = None) -> None:
    """The organisation's accounts (no secret, no personal data)."""
    platform = build(Settings.from_env())
    rows = run_as(platform, admin, lambda who: platform.onboarding.accounts_of(who, organisation))
    table = Table("user name", "role", "state", "professional", "passkeys")
    for a in rows:
        table.add_row(a.username, a.role, "disabled" if a.disabled else "enabled",
                      str(a.professional_id or "-"), str(a.passkeys))
    console.print(table)
    console.print(f"{len(rows)} account{'s' if len(rows) != 1 else ''}")


@accounts_app.command("enrol-code")
def enrol_code(username: str, admin: Admin = None) -> None:
    """Issue a one-time passkey enrolment code (24 h) for USERNAME, to hand over out of band."""
    platform = build(Settings.from_env())
    print(run_as(platform, admin, lambda who: platform.accounts.enrolment_code(username, who),
               {**ERRORS, NotFound: ("no such active account", 2)}))


def _set_disabled(username: str, disabled: bool, admin: str | None) -> None:
    platform = build(Settings.from_env())
    run_as(platform, admin, lambda who: platform.onboarding.set_disabled(who, username, disabled))
    console.print(f"{username}: {'disabled (its sessions ended)' if disabled else 'enabled'}")


@accounts_app.command("disable")
def disable(username: str, admin: Admin = None) -> None:
    """Disable an account and end its sessions at once (its passkeys stay for a re-enabling)."""
    _set_disabled(username, True, admin)


@accounts_app.command("enable")
def enable(username: str, admin: Admin = None) -> None:
    """Enable a disabled account again (containments stay until an officer lifts them)."""
    _set_disabled(username, False, admin)


@accounts_app.command("role")
def role(username: str, new_role: Annotated[str, typer.Argument(metavar="ROLE",
                                                                help="professional or organisation_admin")],
         admin: Admin = None) -> None:
    """Change an organisation account's role (its sessions end)."""
    platform = build(Settings.from_env())
    run_as(platform, admin, lambda who: platform.onboarding.set_role(who, username, new_role))
    console.print(f"{username}: role {new_role} (its sessions ended)")
