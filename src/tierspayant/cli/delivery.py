"""``tiers relay`` and ``tiers delivery``: the outbox at the operator's shell (thin callers of
services/delivery.py and services/relay.py): destinations added with their settings checked,
paused and resumed, webhook secrets rotated; the backlog and its age per destination, the dead
letters with their reasons, a replay."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tierspayant.bootstrap import build
from tierspayant.cli.accounts import Admin, run_as
from tierspayant.config import Settings
from tierspayant.domain.errors import InvalidField
from tierspayant.services.delivery import KINDS
from tierspayant.services.ports.delivery import Channel, Destination

delivery_app = typer.Typer(help="Delivery: destinations, the outbox's backlog, dead letters, replays.",
                           no_args_is_help=True)
console = Console(soft_wrap=True)


def _age(oldest: datetime | None, now: datetime) -> str:
    if oldest is None:
        return "-"
    seconds = int((now - oldest).total_seconds())
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min" if seconds >= 3600 else f"{seconds // 60} min {seconds % 60:02d} s"


@delivery_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name of your choice, e.g. harmonie-claims")],
    channel: Annotated[Channel, typer.Option(help="webhook, file, email or sms")],
    kinds: Annotated[str, typer.Option(help=f"Comma-separated, among: {', '.join(KINDS)}")],
    config: Annotated[str, typer.Option(help='JSON: {"url": ...} | {"directory": ...} | {"host", "port", "sender", '
                                             '"to"} | {"url", "to"}')],
    insurer: Annotated[int | None, typer.Option(help="The insurer's id it serves")] = None,
    organisation: Annotated[int | None, typer.Option(help="The organisation's id it serves")] = None,
    admin: Admin = None,
) -> None:
    """Register a destination; its settings are checked now (a bad URL or an unwritable
    directory is refused here). A webhook's signing secret is printed once."""
    platform = build(Settings.from_env())
    try:
        settings = json.loads(config)
    except json.JSONDecodeError:
        console.print("[red]config: not JSON[/red]")
        raise typer.Exit(2) from None
    wanted = Destination(0, name, channel, settings, tuple(k.strip() for k in kinds.split(",") if k.strip()),
                         insurer, organisation)
    try:
        made = run_as(platform, admin, lambda p: platform.delivery.add(p, wanted))
    except InvalidField as exc:
        console.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(2) from None
    console.print(f"destination {made.name} ({made.channel.value}) added")
    if made.secrets:
        console.print(f"signing secret (shown once; give it to the receiver): {made.secrets[0][0]}")


@delivery_app.command("status")
def status(admin: Admin = None) -> None:
    """Per destination: pending messages, those in transit (NATS), the oldest one's age, dead letters."""
    platform = build(Settings.from_env())
    rows = run_as(platform, admin, platform.delivery.status)
    now = platform.clock.now()
    table = Table("destination", "state", "pending", "in transit", "oldest", "dead")
    for row in rows:
        table.add_row(row.name, "paused" if row.paused else "active", str(row.pending), str(row.in_transit),
                      _age(row.oldest, now), str(row.dead))
    console.print(table)
    console.print(f"{len(rows)} destinations, {sum(r.pending for r in rows)} pending, "
                  f"{sum(r.in_transit for r in rows)} in transit, {sum(r.dead for r in rows)} dead")


@delivery_app.command("dead")
def dead(limit: Annotated[int, typer.Option(help="At most")] = 100, admin: Admin = None) -> None:
    """The dead letters, with why each was given up."""
    platform = build(Settings.from_env())
    rows = run_as(platform, admin, lambda p: platform.delivery.dead(p, limit))
    for m in rows:
        console.print(f"{m.message_id}  {m.kind}  destination {m.destination_id}  {m.attempts} attempts  {m.last_error}")
    console.print(f"{len(rows)} dead")


@delivery_app.command("replay")
def replay(message_id: str, admin: Admin = None) -> None:
    """Deliver a dead message again (same id: a receiver that had it deduplicates it)."""
    platform = build(Settings.from_env())
    run_as(platform, admin, lambda p: platform.delivery.replay(p, message_id))
    console.print(f"{message_id} queued again")


@delivery_app.command("pause")
def pause(name: str, admin: Admin = None) -> None:
    """Stop delivering to a destination (its messages wait; none is lost)."""
    platform = build(Settings.from_env())
    run_as(platform, admin, lambda p: platform.delivery.set_paused(p, name, True))
    console.print(f"{name} paused")


@delivery_app.command("resume")
def resume(name: str, admin: Admin = None) -> None:
    platform = build(Settings.from_env())
    run_as(platform, admin, lambda p: platform.delivery.set_paused(p, name, False))
    console.print(f"{name} resumed")


@delivery_app.command("rotate-secret")
def rotate_secret(name: str, admin: Admin = None) -> None:
    """A new webhook signing secret; the previous one keeps signing for 24 h."""
    platform = build(Settings.from_env())
    secret = run_as(platform, admin, lambda p: platform.delivery.rotate_secret(p, name))
    console.print(f"new signing secret (shown once): {secret}")


def relay() -> None:
    """Deliver the outbox until stopped (Ctrl-C, SIGTERM); several may run at once."""
    platform = build(Settings.from_env())
    settings = platform.settings
    through = (f"through NATS JetStream at {settings.delivery_transport}, stream {settings.delivery_stream}"
               if settings.delivery_transport else "from the database's outbox")
    console.print(f"relay {platform.relay.owner}: delivering {through} (Ctrl-C to stop)")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await platform.relay.run(stop)

    asyncio.run(main())
    console.print(f"relay stopped: {platform.relay.delivered} delivered, {platform.relay.failed} failed attempts")
