"""``tiers members``: an insurer's membership file at the operator's shell (a thin caller of
``services/members.py``), with a progress bar and its rate; the refused lines by number and
field on standard output (never their values), the summary on the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tierspayant.bootstrap import build
from tierspayant.cli.accounts import Admin, run_as
from tierspayant.config import Settings

members_app = typer.Typer(help="Members: an insurer's membership file (idempotent, resumable; on the log).",
                          no_args_is_help=True)
console = Console(soft_wrap=True, stderr=True)


@members_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(
        help='UTF-8 CSV with a header (docs/DOMAIN.md, "Membership files"; docs/member-file-sample.csv)',
        exists=True, dir_okay=False, readable=True)],
    insurer: Annotated[str, typer.Option("--insurer", help="The insurer's AMC number")],
    batch: Annotated[int, typer.Option(help="Lines per transaction")] = 1_000,
    admin: Admin = None,
) -> None:
    """Import a membership file: each line creates its beneficiary, updates what differs or
    changes nothing; run again after an interruption, it resumes after the last batch saved."""
    platform = build(Settings.from_env())
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("lines"),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("import", total=None, rate="")

        first: list[int] = []  # where this run started (a resumed import starts after its saved batches)

        def progress(done: int, total: int) -> None:
            if not first:
                first.append(done)
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, total=total, rate=f"{(done - first[0] + batch) / elapsed:,.0f} lines/s")

        report = run_as(platform, admin, lambda who: platform.members.import_file(who, insurer, file, batch, progress))
    for refusal in report.refusals:
        print(f"line {refusal.line}: {refusal.field}: {refusal.message}")
    s = report.state
    if report.resumed_after:
        console.print(f"resumed at line {report.resumed_after + 2} (lines 2 to {report.resumed_after + 1} were saved before)")
    console.print(f"import {s.id}: {report.total_lines:,} lines, {s.created:,} created, {s.updated:,} updated, "
                  f"{s.unchanged:,} unchanged, {s.refused:,} refused")
