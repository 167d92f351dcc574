"""``tiers incident``: the security officer's kill switches from the operator's shell
(docs/THREATS.md, detection and containment). Same use case as POST /v1/security/containments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tierspayant.bootstrap import build
from tierspayant.config import Settings
from tierspayant.security.policy import NotFound, Principal, Role

incident_app = typer.Typer(help="Containment: kill switches, lifting, alerts.", no_args_is_help=True)
console = Console(soft_wrap=True)
#: The operator at the shell acts as a security officer (recorded as account 0 in the log).
OPERATOR = Principal(0, 0, Role.SECURITY_OFFICER, request_id="cli")
SCOPES = ("session", "account", "organisation", "insurer")


@incident_app.command("contain")
def contain(
    scope: Annotated[str, typer.Option(help="session | account | organisation | insurer")],
    target: Annotated[int, typer.Option(help="The session, account, organisation or insurer id")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the transparency log)")],
    minutes: Annotated[int | None, typer.Option(help="Lift by itself after this long")] = None,
) -> None:
    """Contain now: sessions and accounts at once, organisations and insurer routes on every
    worker within seconds."""
    if scope not in SCOPES:
        console.print(f"[red]scope must be one of {', '.join(SCOPES)}[/red]")
        raise typer.Exit(2)
    platform = build(Settings.from_env())
    done = platform.detection.contain(OPERATOR, scope, target, reason, minutes)
    console.print(f"containment {done.id}: {scope} {target} suspended"
                  + (f" until {done.until:%Y-%m-%d %H:%M %Z}" if done.until else " until lifted"))


@incident_app.command("lift")
def lift(containment_id: int) -> None:
    """Lift a containment (automatic or manual)."""
    platform = build(Settings.from_env())
    try:
        platform.detection.lift(OPERATOR, containment_id)
    except NotFound:
        console.print("[red]no such containment in force[/red]")
        raise typer.Exit(2) from None
    console.print(f"containment {containment_id} lifted")


@incident_app.command("list")
def list_containments(active: Annotated[bool, typer.Option(help="Only those in force")] = False) -> None:
    platform = build(Settings.from_env())
    table = Table("id", "scope", "target", "action", "by", "since", "until", "lifted", "reasons")
    for c in platform.detection.containments(OPERATOR, active_only=active):
        table.add_row(str(c.id), c.scope, str(c.target_id), c.action, "detection" if c.created_by is None else
                      f"account {c.created_by}", f"{c.created_at:%H:%M:%S}", f"{c.until:%H:%M}" if c.until else "",
                      f"{c.lifted_at:%H:%M:%S}" if c.lifted_at else "", c.reasons)
    console.print(table)


@incident_app.command("alerts")
def alerts() -> None:
    platform = build(Settings.from_env())
    for a in platform.detection.alerts(OPERATOR):
        console.print(f"{a.id:>5} {a.at:%Y-%m-%d %H:%M:%S} {a.severity:<6} {a.text}")
