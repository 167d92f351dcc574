"""``tiers``: serve, seed, migrate, demo helpers."""

from __future__ import annotations

import os
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text
from sqlalchemy.engine import make_url

from tierspayant.bootstrap import build
from tierspayant.cli import incident_response  # noqa: F401 -- registers the breach-response commands
from tierspayant.cli.accounts import accounts_app
from tierspayant.cli.audit import audit_app, witness
from tierspayant.cli.config_cmd import config_app
from tierspayant.cli.delivery import delivery_app, relay
from tierspayant.cli.incident import incident_app
from tierspayant.cli.keys import keys_app
from tierspayant.cli.members import members_app
from tierspayant.cli.settings_errors import TiersApp
from tierspayant.cli.simulate import simulate
from tierspayant.config import Settings
from tierspayant.simulate.authenticator import SoftAuthenticator
from tierspayant.simulate.population import PopulationSpec
from tierspayant.simulate.seed import current_totp, read_demo, save_demo, seed
from tierspayant.simulate.seed_scale import SEQUENTIAL_MAX, seed_at_scale

app = TiersApp(help="tierspayant: breach-resistant tiers payant platform.", no_args_is_help=True)
demo_app = typer.Typer(help="Helpers for the synthetic demo platform.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
presence_app = typer.Typer(help="Patients' presence proofs (simulating the insurer's app).", no_args_is_help=True)
app.add_typer(presence_app, name="presence")
app.add_typer(accounts_app, name="accounts")
app.add_typer(members_app, name="members")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")
app.add_typer(incident_app, name="incident")
app.add_typer(delivery_app, name="delivery")
app.command("relay")(relay)
app.command("simulate")(simulate)
app.command("witness")(witness)
console = Console(soft_wrap=True)


@app.callback()
def _logs() -> None:
    # Every command logs as TIERS_LOG_FORMAT and TIERS_LOG_LEVEL say (api/logs.py); a bad
    # setting is left for the command itself to report (tiers config show lists them all).
    from tierspayant.api import logs
    from tierspayant.config import SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError:
        return
    logs.configure(settings.log_format, settings.log_level)


def _credentials(settings: Settings) -> Path:
    return settings.var_dir / "demo-credentials.json"


class _RateColumn(ProgressColumn):
    """Beneficiaries a second over the last 30 s (rich's estimate, which the ETA uses too)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f}/s" if task.speed else "")


def _seed(settings: Settings, beneficiaries: int, professionals: int, seed_value: int,
          workers: int | None = None, chunk_size: int = PopulationSpec.batch_size) -> None:
    platform = build(settings)
    # The population is drawn relative to a fixed day (PopulationSpec.today), so that a seed gives
    # the same people on every machine and every day: the README's sample patient stays valid.
    spec = PopulationSpec(beneficiaries=beneficiaries, professionals=professionals, seed=seed_value,
                          batch_size=chunk_size)
    if workers is None and beneficiaries > SEQUENTIAL_MAX:
        workers = os.cpu_count() or 1  # encryption is CPU-bound: a process per core
    with Progress(TextColumn("[bold]seeding"), BarColumn(), MofNCompleteColumn(), TextColumn("beneficiaries"),
                  _RateColumn(), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("seed", total=beneficiaries)
        if workers is None:  # the sequential seed: the demo's population (the README's patients)
            report = seed(platform.loader, platform.reference, platform.accounts, spec,
                          _credentials(settings), on_progress=lambda n: progress.advance(task, n))
        else:  # in chunks, resumable (simulate/seed_scale.py); only counts reach the bar
            report = seed_at_scale(platform, spec, _credentials(settings), workers,
                                   on_start=lambda n: progress.reset(task, total=beneficiaries, completed=n),
                                   on_progress=lambda n: progress.advance(task, n))
    resumed = f" ({report.resumed:,} were written by an earlier run)" if report.resumed else ""
    size = f"; database {report.size_bytes / 1e9:,.2f} GB" if report.size_bytes is not None else ""
    console.print(f"loaded {report.beneficiaries:,} beneficiaries{resumed} and {report.professionals} professionals "
                  f"in {report.seconds:.1f} s ({report.rate:,.0f} beneficiaries/s){size}")
    console.print(f"demo credentials (synthetic, mode 0600): {_credentials(settings)}")
    platform.engine.dispose()


@app.command("seed")
def seed_command(
    beneficiaries: Annotated[int, typer.Option(help="Number of beneficiaries")] = 2_000,
    professionals: Annotated[int, typer.Option(help="Number of professionals")] = 60,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed (deterministic population)")] = 42,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Processes generating, sealing and loading the population in chunks, resumably (run the "
                    f"same command again after an interruption); default: the CPU count above {SEQUENTIAL_MAX:,} "
                    "beneficiaries, else the sequential demo seed")] = None,
    chunk_size: Annotated[int, typer.Option(
        min=1, help="Beneficiaries per chunk (one transaction); with --workers it is part of the population: "
                    "resume with the same")] = PopulationSpec.batch_size,
) -> None:
    """Load a synthetic population into an empty database (TIERS_DATABASE_URL)."""
    settings = Settings.from_env()
    try:
        _seed(settings, beneficiaries, professionals, seed_value, workers, chunk_size)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        if workers is None and beneficiaries <= SEQUENTIAL_MAX:
            console.print("[yellow]interrupted: the sequential seed does not resume; seed an empty database[/yellow]")
        else:
            console.print("[yellow]interrupted: the chunks committed are kept; run the same command again to "
                          "resume[/yellow]")
        raise typer.Exit(130) from None


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest version."""
    build(Settings.from_env()).engine.dispose()
    console.print("schema up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
    seed_demo: Annotated[bool, typer.Option(help="Seed a small demo population on first start")] = False,
) -> None:
    """Migrate, optionally seed the demo, and serve the HTTP API."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    settings = Settings.from_env()
    try:
        platform = build(settings)
    except RuntimeError as exc:  # a migration refused: the database predates a protection step
        if not (seed_demo and _is_demo_database(settings)):
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        console.print(f"[yellow]the demo database predates this version ({exc}); set aside as "
                      f"{_set_aside(settings)}, seeding a new one[/yellow]")
        platform = build(settings)
    empty = platform.loader.count("insurers") == 0
    platform.engine.dispose()
    if seed_demo and empty:
        _seed(settings, 2_000, 60, 42)
    bind_host, bind_port = host or settings.host, port or settings.port
    if not _port_free(bind_host, bind_port):
        console.print(f"[red]port {bind_port} on {bind_host} is already in use: stop what listens there, or "
                      f"choose another (tiers serve --port N; make run PORT=N)[/red]")
        raise typer.Exit(2)
    if _credentials(settings).exists():
        _print_demo_help(settings, f"http://{bind_host}:{bind_port}")
    os.environ.setdefault("TIERS_DATABASE_URL", settings.database_url)
    # /metrics adds up every worker's counts (api/metrics.py): prometheus-client's multiprocess
    # files, one directory per server (its port), emptied now; set before the module is imported.
    metrics_dir = settings.var_dir / "metrics" / str(bind_port)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from tierspayant.api import logs, metrics

    metrics.prepare_directory(metrics_dir)
    # granian (Rust HTTP server): measured several times faster than uvicorn+h11 here (bench/).
    Granian("tierspayant.web.main:app_from_env", address=bind_host, port=bind_port, interface=Interfaces.ASGI,
            factory=True, workers=workers or settings.workers, log_access=False,
            # A worker that dies (a kill -9, a crash) is started again and the others keep
            # answering (issue 16, point 6): without it granian stopped them all and exited.
            respawn_failed_workers=True, respawn_interval=1.0,
            # Granian's own logs and, in each worker, the application's: TIERS_LOG_FORMAT.
            log_level=LogLevels(settings.log_level),
            log_dictconfig=logs.granian_config(settings.log_format, settings.log_level)).serve()


def _port_free(host: str, port: int) -> bool:
    """Whether the server can bind there (a busy port: one clear line, not a traceback)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _is_demo_database(settings: Settings) -> bool:
    url = make_url(settings.database_url)
    return url.get_backend_name() == "sqlite" and url.database is not None and \
        Path(url.database).resolve().parent == settings.var_dir.resolve()


def _set_aside(settings: Settings) -> Path:
    """Move the old demo database (synthetic data only) out of the way, keep it for inspection."""
    database = Path(str(make_url(settings.database_url).database))
    aside = settings.var_dir / f"old-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    aside.mkdir(parents=True)
    for path in [*database.parent.glob(database.name + "*"), _credentials(settings)]:
        if path.exists():
            path.rename(aside / path.name)
    return aside


def _print_demo_help(settings: Settings, base: str) -> None:
    demo = read_demo(_credentials(settings))
    optician = demo["accounts"]["optique.demo"]
    patient = demo["patients"][0]
    console.rule("tierspayant demo (synthetic data)")
    console.print(f"API docs: {base}/docs")
    console.print(f"Sign in as the demo optician with its (simulated) passkey; password {optician['password']} "
                  "+ TOTP reaches no beneficiary data:")
    console.print(f"  TOKEN=$(.venv/bin/tiers demo token optique.demo --base-url {base})")
    body = shlex.quote(
        f'{{"amc_number":"{patient["amc_number"]}","member_number":"{patient["member_number"]}",'
        f'"nir":"{patient["nir"]}","birth_date":"{patient["birth_date"]}",'
        f'"date_of_care":"{datetime.now(UTC).date().isoformat()}","category":"optical"}}'
    )
    console.print("Check a (synthetic) patient's rights:")
    console.print(f"  curl -s {base}/v1/rights-checks -H \"authorization: Bearer $TOKEN\" "
                  f"-H 'content-type: application/json' -d {body}")
    console.print(f"More: README.md, section 'A first tour' (BASE={base} bash scripts/tour.sh). "
                  "Start again from a fresh demo: make reset-demo.")
    console.rule()


@demo_app.command("totp")
def demo_totp(username: str) -> None:
    """Print the current TOTP code of a demo account (the demo's authenticator app)."""
    settings = Settings.from_env()
    try:
        print(current_totp(_credentials(settings), username, datetime.now(UTC)))
    except (FileNotFoundError, KeyError):
        console.print("[red]no such demo account; run `make run` (or `tiers seed`) first[/red]")
        raise typer.Exit(2) from None


@presence_app.command("issue")
def presence_issue(
    amc: Annotated[str, typer.Option(help="Insurer (AMC) number")],
    member: Annotated[str, typer.Option(help="Member number")],
    nir: Annotated[str, typer.Option(help="NIR")],
    birth_date: Annotated[str, typer.Option(help="Birth date, YYYY-MM-DD")],
    typed: Annotated[bool, typer.Option("--typed", help="The form a person types: groups of four, a check "
                                                         "character (when the QR code cannot be read)")] = False,
) -> None:
    """Issue a patient's presence proof, as the insurer's app would show it (valid 20 min, single use)."""
    from datetime import date

    from tierspayant.security.policy import NotFound

    platform = build(Settings.from_env())
    try:
        print(platform.presence.issue(amc, member, nir, date.fromisoformat(birth_date), typed=typed))
    except NotFound:
        console.print("[red]no such beneficiary[/red]")
        raise typer.Exit(2) from None


@demo_app.command("token")
def demo_token(
    username: str,
    base_url: Annotated[str, typer.Option(help="Server")] = "http://127.0.0.1:8000",
    password: Annotated[bool, typer.Option(help="Password + TOTP instead of the passkey (reaches no beneficiary data)")]
    = False,
) -> None:
    """Sign in over HTTP as a demo account and print the bearer token: with the account's
    (simulated) passkey by default, as practice software would with the professional's."""
    import httpx

    settings = Settings.from_env()
    path = _credentials(settings)
    try:
        demo = read_demo(path)
        account = demo["accounts"][username]
    except (FileNotFoundError, KeyError):
        console.print("[red]no such demo account; run `make run` (or `tiers seed`) first[/red]")
        raise typer.Exit(2) from None
    if not password:
        authenticator = SoftAuthenticator.from_dict(account["passkey"])
        options = httpx.post(f"{base_url}/v1/passkeys/authentication/options").json()
        assertion = authenticator.get(options, settings.webauthn_origin)
        account["passkey"] = authenticator.to_dict()  # the counter moved: keep it
        save_demo(path, demo)
        response = httpx.post(f"{base_url}/v1/passkeys/authentication", json={"credential": assertion})
    else:
        for attempt in range(2):
            code = current_totp(path, username, datetime.now(UTC))
            response = httpx.post(f"{base_url}/v1/sessions",
                                  json={"username": username, "password": account["password"], "totp": code})
            if response.status_code == 200 or attempt:
                break
            # Each TOTP code is accepted once (replay protection): wait for the next 30-s step.
            time.sleep(30.5 - time.time() % 30)
    if response.status_code != 200:
        console.print(f"[red]sign-in refused ({response.status_code})[/red]")
        raise typer.Exit(1)
    print(response.json()["token"])


@demo_app.command("info")
def demo_info() -> None:
    """Print the demo accounts and sample patients (all synthetic)."""
    settings = Settings.from_env()
    demo = read_demo(_credentials(settings))
    for username, account in demo["accounts"].items():
        console.print(f"{username:16} {account['role']:18} password: {account['password']}")
    for patient in demo["patients"]:
        console.print(f"patient: amc {patient['amc_number']} member {patient['member_number']} "
                      f"nir {patient['nir']} born {patient['birth_date']}")


if __name__ == "__main__":  # pragma: no cover
    app()
