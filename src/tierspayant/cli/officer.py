"""A named officer at the operator's shell: signed in with password + TOTP like anywhere else
(same throttles), the session ended when the command is done, so that every operation of
``tiers keys`` and ``tiers incident`` is on the transparency log with who did it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from tierspayant.bootstrap import Platform
from tierspayant.domain.errors import DomainError
from tierspayant.security.policy import NotFound, Principal
from tierspayant.security.tokens import new_reference
from tierspayant.services.errors import Forbidden, ServiceError

T = TypeVar("T")
console = Console(soft_wrap=True)
Officer = Annotated[str, typer.Option("--officer", help="The officer's user name (asks the password and the "
                                                         "current TOTP code)")]


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def sign_in(platform: Platform, username: str, purpose: str) -> Principal:
    password = typer.prompt(f"{username}'s password", hide_input=True)
    code = typer.prompt("TOTP code")
    try:
        signed = platform.accounts.sign_in(username, password, code, source="cli")
        principal = platform.accounts.authenticate(signed.token)
    except ServiceError:
        console.print("[red]sign-in refused[/red]")
        raise typer.Exit(1) from None
    return replace(principal, request_id=f"cli-{purpose}-{new_reference('R')}")  # on the log with its events


def as_officer(platform: Platform, username: str | None, purpose: str, action: Callable[[Principal], T],
               errors: dict[type[Exception], tuple[str, int]] | None = None, signed_in: Principal | None = None) -> T:
    """Run ``action`` as the signed-in officer, its errors as the command's (``errors``: messages
    and exit codes for the caller's own exceptions, checked first); signed out after.
    ``signed_in``: act as this built-in principal instead (the operator's shell), no sign-in."""
    if signed_in is not None:
        principal = replace(signed_in, request_id=f"cli-{purpose}-{new_reference('R')}")
    else:
        assert username is not None
        principal = sign_in(platform, username, purpose)
    try:
        return action(principal)
    except Exception as exc:
        for kind, (message, code) in (errors or {}).items():
            if isinstance(exc, kind):
                raise fail(message, code) from None
        if isinstance(exc, Forbidden):
            raise fail("refused: not a role allowed to do this", 1) from None
        if isinstance(exc, NotFound):
            raise fail("not found") from None
        if isinstance(exc, DomainError):
            raise fail(f"{exc.field}: {exc.message}") from None
        raise
    finally:
        if signed_in is None:
            platform.accounts.sign_out(principal)
