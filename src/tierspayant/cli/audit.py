"""``tiers audit`` and ``tiers witness``."""

from __future__ import annotations

import base64
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tierspayant.audit.witness import Alarm, WitnessState, witness_step
from tierspayant.bootstrap import build, signing_seed
from tierspayant.config import Settings
from tierspayant.domain.errors import DomainError
from tierspayant.security.notes import NoteSigner, Verifier
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.audit import ProofArchived
from tierspayant.services.ports.log_storage import ArchiveRefused

audit_app = typer.Typer(help="The transparency log: checkpoints, proofs, verification, queries.",
                        no_args_is_help=True)
console = Console(soft_wrap=True)
OPERATOR = Principal(0, 0, Role.SECURITY_OFFICER, request_id="cli")


@audit_app.command()
def checkpoint() -> None:
    """Sign a checkpoint of the log now (the server also does it every TIERS_CHECKPOINT_SECONDS)."""
    platform = build(Settings.from_env())
    stored = platform.audit.checkpoint()
    print(stored.note, end="")


@audit_app.command()
def key() -> None:
    """Print the log's public verifier key (give it to witnesses and auditors)."""
    platform = build(Settings.from_env())
    print(platform.audit.signer.verifier.encoded)


@audit_app.command()
def verify(batch: Annotated[int, typer.Option(help="Events per read")] = 20_000) -> None:
    """Recompute every leaf and the tree from the stored events and check every checkpoint."""
    platform = build(Settings.from_env())
    total = platform.audit.size() - platform.audit.archived_until()[0]  # the archived leaves are not reread
    started = time.perf_counter()
    with Progress(TextColumn("[bold]verifying"), BarColumn(), MofNCompleteColumn(), TextColumn("events"),
                  TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("verify", total=total)
        report = platform.audit.verify(batch=batch, on_progress=lambda n: progress.advance(task, n))
    seconds = time.perf_counter() - started
    console.print(f"{report.events:,} events, {report.checkpoints} checkpoints, {seconds:.1f} s")
    if report.from_leaf:
        console.print(f"leaves 0..{report.from_leaf - 1:,} archived: rehashed from their stored frontier on; "
                      f"{report.unchecked_checkpoints} checkpoints among them not rechecked (`tiers audit restore` "
                      "brings them back)")
    if report.key_operations:
        shown = ", ".join(map(str, report.key_operations[:20])) + (" ..." if len(report.key_operations) > 20 else "")
        console.print(f"key operations on the log: {len(report.key_operations)} (events {shown}; "
                      "`tiers audit keys` lists them)")
    if report.ok:
        console.print("[green]log verified: every checkpoint matches the events[/green]")
        return
    for problem in report.problems:
        console.print(f"[red]{problem}[/red]")
    raise typer.Exit(1)


@audit_app.command()
def prove(index: int, tree_size: Annotated[int | None, typer.Option(help="Checkpoint size")] = None) -> None:
    """Print an event, its inclusion proof in a signed checkpoint, and check it."""
    from tierspayant.audit.merkle import verify_inclusion

    platform = build(Settings.from_env())
    try:
        proof = platform.audit.inclusion(index, tree_size)
    except ProofArchived:
        console.print("[red]this event is archived: `tiers audit restore` brings it back to prove it[/red]")
        raise typer.Exit(2) from None
    except NotFound:
        console.print("[red]no such event in a signed checkpoint (run `tiers audit checkpoint` first?)[/red]")
        raise typer.Exit(2) from None
    ok = verify_inclusion(proof.leaf_hash, proof.index, proof.size, proof.hashes, proof.checkpoint.root)
    print(json.dumps({
        "index": proof.index, "tree_size": proof.size, "leaf_hash": base64.b64encode(proof.leaf_hash).decode(),
        "proof": [base64.b64encode(h).decode() for h in proof.hashes], "checkpoint": proof.checkpoint.note,
        "verified": ok,
    }, indent=1))
    if not ok:
        raise typer.Exit(1)


@audit_app.command()
def history(
    insurer: Annotated[str, typer.Option("--insurer", help="The insurer's AMC number")],
    member: Annotated[str, typer.Option("--member", help="The member number on the card")],
    rank: Annotated[int | None, typer.Option(help="One beneficiary of the membership (0: the member)")] = None,
) -> None:
    """Everything that happened to one membership's data (or one beneficiary's, with --rank):
    who, when, why, and the operations on its insurer's keys."""
    platform = build(Settings.from_env())
    try:
        rows = platform.audit.member_history(OPERATOR, insurer, member, rank)
    except DomainError as exc:
        console.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(2) from None
    for seq, event in rows:
        print(json.dumps({"index": seq, **event.to_dict()}))
    print(f"{len(rows)} event{'s' if len(rows) != 1 else ''}", file=sys.stderr)
    _, archived = platform.audit.archived_until()
    if archived is not None:
        print(f"events dated up to {archived.isoformat()} are archived and not shown (tiers audit restore)",
              file=sys.stderr)


@audit_app.command()
def keys(insurer_id: Annotated[int | None, typer.Option(help="One insurer's keys (0: the platform's)")] = None) -> None:
    """Every key operation on the log: rotations, retirements, shred requests and shreds, by whom and why."""
    platform = build(Settings.from_env())
    for seq, event in platform.audit.key_operations(OPERATOR, insurer_id):
        print(json.dumps({"index": seq, **event.to_dict()}))


@audit_app.command()
def exposure(start: datetime, end: datetime,
             account: Annotated[int | None, typer.Option(help="Account id")] = None,
             organisation: Annotated[int | None, typer.Option(help="Organisation id")] = None) -> None:
    """Everything one account or organisation touched in [START, END) (UTC)."""
    platform = build(Settings.from_env())
    try:
        rows = platform.audit.exposure(OPERATOR, account_id=account, organisation_id=organisation,
                                       start=start.replace(tzinfo=start.tzinfo or UTC),
                                       end=end.replace(tzinfo=end.tzinfo or UTC))
    except DomainError as exc:  # the window reaches archived months, or both ids given
        console.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(2) from None
    people = {e.beneficiary for _, e in rows if e.beneficiary}
    for seq, event in rows:
        print(json.dumps({"index": seq, **event.to_dict()}))
    print(f"{len(rows)} events, {len(people)} distinct beneficiaries", file=sys.stderr)


@audit_app.command()
def partitions(adopt: Annotated[bool, typer.Option(help="Move every event of the DEFAULT partition to its month's "
                                                        "(the server moves up to 50,000 itself)")] = False) -> None:
    """Create this month's and the next two months' partitions (PostgreSQL), then list them."""
    platform = build(Settings.from_env())
    archiving = platform.audit.archiving
    if archiving.storage is None or not archiving.storage.partitioned:
        console.print("SQLite keeps the log in one table: no partitions")
        return
    ensured = archiving.ensure_partitions(**({"adopt_limit": 2**62} if adopt else {}))
    for name in ensured.created:
        console.print(f"created {name}")
    for p in archiving.partitions():
        span = f"{p.lower:%Y-%m-%d} .. {p.upper:%Y-%m-%d}" if p.lower and p.upper else "DEFAULT"
        print(f"{p.name:28} {span:24} {p.events:>14,} events {p.bytes / 2**20:>10,.1f} MiB")
    for a in archiving.archives():
        state = f"restored {a.restored_at:%Y-%m-%d}" if a.restored_at else "archived"
        print(f"archive {a.id}: leaves {a.seq_from:,}..{a.seq_to - 1:,}, before {a.before:%Y-%m}, {state}")
    if ensured.default_events:
        console.print(f"[yellow]{ensured.default_events:,} events wait in the DEFAULT partition "
                      "(`--adopt` moves them)[/yellow]")


def _month(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter("expected YYYY-MM") from None


@audit_app.command()
def archive(before: Annotated[str, typer.Option(help="Archive the months before this one (YYYY-MM)")],
            yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False) -> None:
    """Move the log's months before BEFORE out to compressed files under var/archive (PostgreSQL),
    keeping every signed checkpoint and the subtree hashes that the remaining events' proofs need."""
    platform = build(Settings.from_env())
    archiving = platform.audit.archiving
    try:
        plan = archiving.plan(_month(before))
        names = ", ".join(p.name for p in plan.partitions)
        console.print(f"{names}: leaves {plan.seq_from:,}..{plan.seq_to - 1:,} ({plan.seq_to - plan.seq_from:,} events)")
        if not yes:
            typer.confirm("archive them (they leave the database)?", abort=True)
        done = archiving.archive(OPERATOR, plan.before)
    except ArchiveRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    for f in done.files:
        print(f"{f.file}  sha256 {f.sha256}  {f.events:,} events")
    console.print(f"archive {done.id}: {done.events:,} events in {platform.settings.var_dir / 'archive'}. Still "
                  "provable: every signed checkpoint, the remaining events' inclusion, consistency from the last "
                  "checkpoint of each archived month. Needs `tiers audit restore`: the archived events (history, "
                  "exposure), their proofs, consistency from other checkpoints among them, verification from leaf 0.")


@audit_app.command()
def restore() -> None:
    """Load the latest archive back into the log (its files checked against their SHA-256, every
    block of 64 restored events against its stored subtree hash)."""
    platform = build(Settings.from_env())
    try:
        with Progress(TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(), console=console) as progress:
            task = progress.add_task("check", total=None)
            done, problems = platform.audit.archiving.restore(OPERATOR, lambda n: progress.advance(task, n))
    except ArchiveRefused as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"archive {done.id}: {done.events:,} events restored (leaves {done.seq_from:,}..{done.seq_to - 1:,})")
    for problem in problems:
        console.print(f"[red]{problem}[/red]")
    if problems:
        raise typer.Exit(1)


def witness(
    log_url: Annotated[str, typer.Option(help="Base URL of the platform")] = "http://127.0.0.1:8000",
    log_key: Annotated[str, typer.Option(help="The log's verifier key (tiers audit key)")] = "",
    origin: Annotated[str, typer.Option(help="The log's origin line")] = "tierspayant.example/log",
    state_dir: Annotated[Path, typer.Option(help="The witness's own state and key")] = Path("var/witness"),
    name: Annotated[str, typer.Option(help="The witness's name")] = "witness.example",
    interval: Annotated[float, typer.Option(help="Seconds between checks (as often as the log signs: 5 s)")] = 5.0,
    once: Annotated[bool, typer.Option(help="Check once and exit")] = False,
) -> None:
    """Watch the log: check each new checkpoint against the last one seen, cosign it, alarm on a
    fork or a rollback (exit code 3)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    signer = NoteSigner(name, signing_seed(state_dir / "witness.ed25519"))
    if not log_key:
        print(signer.verifier.encoded)  # first run: show our key so the log can accept our cosignatures
        raise typer.Exit(0)
    verifier = Verifier.decode(log_key)
    state_file = state_dir / "state.json"
    with httpx.Client(base_url=log_url, timeout=10) as client:

        def consistency(first: int, second: int) -> list[bytes]:
            r = client.get("/v1/log/proofs/consistency", params={"first": first, "second": second})
            r.raise_for_status()
            return [base64.b64decode(h) for h in r.json()["proof"]]

        while True:
            response = client.get("/v1/log/checkpoint")
            if response.status_code == 404:  # nothing signed yet
                time.sleep(interval)
                continue
            response.raise_for_status()
            note = response.text
            try:
                state, line, checkpoint = witness_step(note, verifier, origin, WitnessState.load(state_file),
                                                       consistency, signer)
            except Alarm as alarm:
                print(f"ALARM: {alarm}", file=sys.stderr)
                raise typer.Exit(3) from None
            state.save(state_file)
            posted = client.post("/v1/log/cosignatures", json={"tree_size": checkpoint.size, "signature": line})
            if posted.status_code == 204:
                console.print(f"size {checkpoint.size}: consistent with what we saw; cosigned")
            else:
                console.print(f"size {checkpoint.size}: consistent with what we saw; the log refused our cosignature "
                              f"({posted.status_code}): is our key in its TIERS_WITNESS_KEYS?")
            if once:
                return
            time.sleep(interval)
