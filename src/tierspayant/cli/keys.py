"""``tiers keys``: rotation and crypto-shredding, as a named security officer (a thin caller of
``services/keys.py``: every operation is on the transparency log with who and why)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tierspayant.bootstrap import Platform, build, kek_problem, move_keys_into_token, pkcs11_config, pkcs11_kek
from tierspayant.cli.officer import Officer, as_officer, fail
from tierspayant.config import Settings
from tierspayant.domain.errors import DomainError
from tierspayant.security.policy import NotFound, Principal
from tierspayant.services.errors import Forbidden
from tierspayant.services.keys import DualControlRequired, Rotation

T = TypeVar("T")
keys_app = typer.Typer(help="Data keys: rotation and crypto-shredding (security officers, on the log).",
                       no_args_is_help=True)
console = Console(soft_wrap=True)

Reason = Annotated[str, typer.Option(help="Why: recorded on the transparency log")]


#: What the key commands' refusals say (cli/officer.py ``as_officer``).
ERRORS: dict[type[Exception], tuple[str, int]] = {
    DualControlRequired: ("refused: a second security officer, not the one who asked, must approve", 1),
    Forbidden: ("security officers only", 1),
    NotFound: ("no such pending shred request for this insurer (requests lapse after 24 h)", 2),
}


def _as_officer(platform: Platform, username: str, action: Callable[[Principal], T]) -> T:
    return as_officer(platform, username, "keys", action, ERRORS)


def _owner(platform: Platform, insurer: str | None) -> int:
    try:
        return platform.keys.owner(insurer)
    except (NotFound, DomainError):
        raise fail("no such insurer") from None


@keys_app.command("rotate")
def rotate(
    officer: Officer,
    reason: Reason,
    insurer: Annotated[str | None, typer.Option(help="Insurer (AMC) number")] = None,
    platform_key: Annotated[bool, typer.Option("--platform", help="The platform's key (professionals' names, "
                                                                  "IBANs) instead of an insurer's")] = False,
    batch: Annotated[int, typer.Option(help="Rows per transaction")] = 300,
) -> None:
    """New data-key version (takes writes at once), re-encrypt everything sealed with the old ones
    in small transactions (the platform keeps serving), then retire the old versions."""
    if (insurer is None) == (not platform_key):
        raise fail("give --insurer AMC or --platform")
    platform = build(Settings.from_env())
    owner = _owner(platform, None if platform_key else insurer)

    def rotate_as(principal: Principal) -> Rotation:
        with Progress(TextColumn("[bold]re-encrypting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            task = progress.add_task("rotate", total=None)
            return platform.keys.rotate(principal, owner, reason, batch,
                                        progress=lambda seen, total: progress.update(task, completed=seen, total=total))

    done = _as_officer(platform, officer, rotate_as)
    console.print(f"{'platform' if platform_key else f'insurer {insurer}'}: key version {done.version}, "
                  f"{done.resealed:,} of {done.rows:,} rows re-encrypted, retired versions {done.retired}")


@keys_app.command("shred")
def shred(officer: Officer, reason: Reason,
          insurer: Annotated[str, typer.Option(help="Insurer (AMC) number")]) -> None:
    """Ask for an insurer's crypto-shred. Nothing is destroyed until a second security officer
    runs `tiers keys approve-shred`."""
    platform = build(Settings.from_env())
    owner = _owner(platform, insurer)
    request = _as_officer(platform, officer, lambda principal: platform.keys.request_shred(principal, owner, reason))
    console.print(f"shred request {request.id} for insurer {insurer} recorded; nothing is destroyed until another "
                  f"security officer runs: tiers keys approve-shred {request.id} --insurer {insurer} --officer NAME --yes")


@keys_app.command("approve-shred")
def approve_shred(
    request_id: int,
    officer: Officer,
    insurer: Annotated[str, typer.Option(help="The insurer (AMC) number the request is for: checked against it")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the keys are destroyed for good")] = False,
) -> None:
    """Approve and carry out a shred request (a different security officer from the one who
    asked): the insurer's data keys are destroyed, its data becomes unreadable for good."""
    if not yes:
        raise fail("this destroys the insurer's keys for good: add --yes")
    platform = build(Settings.from_env())
    owner = _owner(platform, insurer)
    done = _as_officer(platform, officer, lambda principal: platform.keys.approve_shred(principal, request_id, owner))
    unreadable = ", ".join(f"{count:,} {table}" for table, count in done.unreadable.items() if count) or "no rows"
    console.print(f"shred request {request_id}: {done.versions} data key version(s) destroyed; now unreadable: "
                  f"{unreadable}; running servers drop their copies within 30 s")


# -- the key-encryption key in a hardware security module (docs/THREATS.md T5, "Key custody") ------
def _pkcs11_settings() -> Settings:
    settings = Settings.from_env()
    if settings.kek != "pkcs11":
        raise fail("set TIERS_KEK=pkcs11 and its TIERS_PKCS11_* settings first (tiers config show)")
    return settings


@keys_app.command("hsm-init")
def hsm_init() -> None:
    """Create the key-encryption key inside the PKCS#11 token (TIERS_PKCS11_*): AES-256, generated
    there, sensitive, never extractable, encrypt and decrypt only. Once, before the platform's
    first start on the token; never done at start-up (a mistyped label must not make a second
    KEK). Refuses when the label is taken."""
    from tierspayant.security.pkcs11_kek import Pkcs11Problem, create_key

    settings = _pkcs11_settings()
    try:
        facts = create_key(pkcs11_config(settings))
    except Pkcs11Problem as exc:
        raise kek_problem(exc, settings) from None
    console.print(f"created {facts.describe()}")


@keys_app.command("hsm-check")
def hsm_check() -> None:
    """Open the token as the platform does (module, token, PIN, key), show what the token says of
    the key, wrap and unwrap a throwaway data key inside it, and time both."""
    from tierspayant.security.keys import new_secret

    settings = _pkcs11_settings()
    started = time.perf_counter()
    kek = pkcs11_kek(settings)
    opened = time.perf_counter()
    probe = new_secret(32)
    wrapped = kek.wrap(probe, 0, 0)
    wrapped_at = time.perf_counter()
    if kek.unwrap(wrapped, 0, 0) != probe:
        raise fail("the token's round trip does not give the key back", 1)
    done = time.perf_counter()
    console.print(kek.facts().describe())
    console.print(f"opened in {(opened - started) * 1000:.1f} ms; wrap {(wrapped_at - opened) * 1000:.2f} ms, "
                  f"unwrap {(done - wrapped_at) * 1000:.2f} ms, inside the token")


@keys_app.command("hsm-adopt")
def hsm_adopt(yes: Annotated[bool, typer.Option("--yes", help="Confirm: the platform is stopped")] = False) -> None:
    """Move the data keys from the key file (var/keys/kek.key) into the token: each is unwrapped
    by the file and wrapped again inside the token, in one transaction. Stop the platform first,
    then start it with TIERS_KEK=pkcs11."""
    if not yes:
        raise fail("stop every process of the platform first, then add --yes")
    settings = _pkcs11_settings()
    moved, plain = move_keys_into_token(settings)
    console.print(f"{moved} data key(s) now wrapped inside token {settings.pkcs11_token!r}, the other secrets of "
                  f"{settings.key_dir} by it too (*.key.p11); start the platform with TIERS_KEK=pkcs11")
    if plain:
        console.print("these plain files now only open backups taken before: destroy them with those backups:")
        for path in plain:
            console.print(f"  {path}")
