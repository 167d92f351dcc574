"""The composition root: the one place that builds concrete adapters and hands them to the use
cases. Nothing here runs at import time."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from tierspayant.config import Settings, SettingsError, env_name
from tierspayant.delivery.file_drop import FileDropConnector
from tierspayant.delivery.identity_provider import OidcClient
from tierspayant.delivery.jetstream import JetStreamTransport
from tierspayant.delivery.notices import EmailConnector, SmsConnector
from tierspayant.delivery.sepa import SepaWriter
from tierspayant.delivery.webhooks import WebhookConnector
from tierspayant.detection.thresholds import Thresholds
from tierspayant.security.fields import BlindIndex, KeyRing
from tierspayant.security.notes import NoteSigner, Verifier
from tierspayant.security.oidc import OidcSettings, client_key
from tierspayant.security.presence import PresenceIssuer, PresenceVerifier
from tierspayant.security.pseudonyms import Pseudonymizer
from tierspayant.security.throttle import TokenBuckets
from tierspayant.security.webauthn import PasskeyPolicy
from tierspayant.services.accounts import AccountsService
from tierspayant.services.audit import AuditService, Recorder
from tierspayant.services.bank_details import BankDetailsService
from tierspayant.services.calculation import CalculationService
from tierspayant.services.claims import ClaimsService
from tierspayant.services.delivery import DeliveryService
from tierspayant.services.detection import DetectionService
from tierspayant.services.incident_exports import IncidentExportsService
from tierspayant.services.incident_reports import IncidentReportsService
from tierspayant.services.incidents import IncidentService
from tierspayant.services.keys import KeysService
from tierspayant.services.lifecycle import LifecycleService
from tierspayant.services.listings import ListingsService
from tierspayant.services.members import MembersService
from tierspayant.services.networks import NetworksService
from tierspayant.services.onboarding import OnboardingService
from tierspayant.services.payments import PaymentsService
from tierspayant.services.ports import Clock
from tierspayant.services.ports.delivery import Channel, Connector, Transport
from tierspayant.services.ports.operations import Lease, Operations
from tierspayant.services.ports.outside import BulkLoader
from tierspayant.services.presence import PresenceService
from tierspayant.services.reference import ReferenceService
from tierspayant.services.relay import Relay, RelaySettings
from tierspayant.services.review import ReviewService
from tierspayant.services.rights import RightsService
from tierspayant.store.bulk import SqlBulkLoader
from tierspayant.store.database import make_engine, refresh_statistics
from tierspayant.store.key_custody import CustodyProblem, KeyCustody, move_into_token, open_custody
from tierspayant.store.key_files import load_or_create_signing_seed
from tierspayant.store.leases import signer_lease
from tierspayant.store.log_archive import SqlLogStorage
from tierspayant.store.migrate import upgrade
from tierspayant.store.operations import SqlOperations
from tierspayant.store.protection import Protection
from tierspayant.store.unit_of_work import SqlUnitOfWork
from tierspayant.store.write_queue import SqlWriteQueue

if TYPE_CHECKING:  # imported when TIERS_KEK=pkcs11 only (pkcs11_kek)
    from tierspayant.security.pkcs11_kek import Pkcs11Config, Pkcs11Kek, Pkcs11Problem


def signing_seed(path: Path) -> bytes:
    """The Ed25519 seed kept at ``path`` (created once, 0600): for tools outside the platform
    that sign with a key file of their own (``tiers witness``)."""
    return load_or_create_signing_seed(path)


# -- the key-encryption key (docs/THREATS.md T5, "Key custody"; TIERS_KEK) -----------------------
def key_custody(settings: Settings, engine: Engine) -> KeyCustody:
    """The KEK that TIERS_KEK names, checked against the database's data keys, and the secrets it
    keeps (store/key_custody.py): a wrong one stops the start with one line naming the variable."""
    token = partial(pkcs11_kek, settings) if settings.kek == "pkcs11" else None
    try:
        return open_custody(engine, settings.key_dir, token,
                            f"key {settings.pkcs11_key_label!r} on token {settings.pkcs11_token!r}")
    except CustodyProblem as exc:
        raise SettingsError([f"{env_name(exc.setting)}: {exc.problem}"]) from None


def pkcs11_kek(settings: Settings) -> Pkcs11Kek:
    """The KEK inside the token of the TIERS_PKCS11_* settings, opened (module, token, PIN, key
    checked at once); the PKCS#11 binding is imported only here (40-90 ms, bench/HSM-RESULTS.md)."""
    from tierspayant.security.pkcs11_kek import Pkcs11Kek, Pkcs11Problem

    try:
        return Pkcs11Kek(pkcs11_config(settings))
    except Pkcs11Problem as exc:
        raise kek_problem(exc, settings) from None


def pkcs11_config(settings: Settings) -> Pkcs11Config:
    """The token's coordinates from TIERS_PKCS11_*, the PIN read from its file when one is named."""
    from tierspayant.security.pkcs11_kek import Pkcs11Config, Pkcs11Problem, read_pin_file

    pin = settings.pkcs11_pin
    if settings.pkcs11_pin_file is not None:
        try:
            pin = read_pin_file(settings.pkcs11_pin_file)
        except Pkcs11Problem as exc:
            raise kek_problem(exc, settings) from None
    return Pkcs11Config(settings.pkcs11_library, settings.pkcs11_token, pin, settings.pkcs11_key_label)


def kek_problem(problem: Pkcs11Problem, settings: Settings) -> SettingsError:
    """A token problem as the settings error naming the variable to fix (one line, no PIN)."""
    setting = "pin_file" if problem.setting == "pin" and settings.pkcs11_pin_file is not None else problem.setting
    return SettingsError([f"{env_name('pkcs11_' + setting)}: {problem.problem}"])


def move_keys_into_token(settings: Settings) -> tuple[int, list[Path]]:
    """``tiers keys hsm-adopt`` (store/key_custody.py ``move_into_token``): how many data keys
    moved, and the plain files left."""
    engine = make_engine(settings.database_url)
    try:
        return move_into_token(engine, settings.key_dir, pkcs11_kek(settings))
    except CustodyProblem as exc:
        raise SettingsError([f"{env_name(exc.setting)}: {exc.problem}"]) from None
    finally:
        engine.dispose()
# -- end of the key-encryption key --


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    loader: BulkLoader
    protection: Protection
    clock: Clock
    accounts: AccountsService
    onboarding: OnboardingService
    listings: ListingsService
    review: ReviewService
    networks: NetworksService
    members: MembersService
    lifecycle: LifecycleService
    reference: ReferenceService
    rights: RightsService
    calculation: CalculationService
    claims: ClaimsService
    payments: PaymentsService
    audit: AuditService
    presence: PresenceService
    bank_details: BankDetailsService
    detection: DetectionService
    keys: KeysService
    incidents: IncidentService
    incident_reports: IncidentReportsService
    incident_exports: IncidentExportsService
    delivery: DeliveryService
    #: Carries the outbox out (started by ``tiers serve`` or ``tiers relay``).
    relay: Relay
    #: Every port over one transaction: for tools and tests that read the store as it is.
    uow: SqlUnitOfWork
    #: What /metrics and /v1/health/ready read from the store (api/metrics.py, api/readiness.py).
    operations: Operations
    #: Held by exactly one process on the database: the checkpoint signer (store/leases.py).
    signer: Lease

    def refresh_statistics(self) -> None:
        """The database's planner statistics of the fast-growing tables (store/database.py)."""
        refresh_statistics(self.engine)


def build(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Platform:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    if settings.unsafe_no_access_log:
        logging.getLogger("tierspayant").warning("TIERS_UNSAFE_NO_ACCESS_LOG=1: access events are DROPPED (benchmarks only)")
    if settings.unsafe_plaintext_fields:
        logging.getLogger("tierspayant").warning("TIERS_UNSAFE_PLAINTEXT_FIELDS=1: personal fields stored in CLEAR "
                                                 "(benchmarks only)")
    custody = key_custody(settings, engine)  # the KEK and the secrets it keeps (docs/THREATS.md T5)
    protection = Protection(
        KeyRing(custody.kek),
        BlindIndex({purpose: custody.secrets[f"blind-index-{purpose}"] for purpose in ("nir", "member")}),
        unsafe_plaintext=settings.unsafe_plaintext_fields,
    )
    uow = SqlUnitOfWork(engine, protection, drop_events=settings.unsafe_no_access_log)
    clock = clock or SystemClock()  # the entry point injects another (tests, the simulator's accelerated one)
    writer = SepaWriter(settings.debtor_name, settings.debtor_iban, settings.debtor_bic)
    recorder = Recorder(Pseudonymizer(custody.secrets["pseudonyms"]))
    signer = NoteSigner(settings.log_origin.split("/")[0],
                        load_or_create_signing_seed(settings.key_dir / "log-signing.ed25519"))
    witnesses = [Verifier.decode(k) for k in settings.witness_keys]
    presence_issuer = PresenceIssuer(load_or_create_signing_seed(settings.key_dir / "presence.ed25519"))
    oidc = OidcClient(oidc_settings(settings)) if settings.oidc_issuer else None
    if settings.unsafe_no_detection:
        logging.getLogger("tierspayant").warning("TIERS_UNSAFE_NO_DETECTION=1: detection is OFF (benchmarks only)")
    detection = DetectionService(uow, clock, recorder, Thresholds.from_config(settings.detection),
                                 enabled=not settings.unsafe_no_detection)
    accounts = AccountsService(uow, clock, PasskeyPolicy(settings.webauthn_rp_id, "tierspayant",
                                                         settings.webauthn_origin), oidc, detection,
                               TokenBuckets(settings.account_rate, settings.account_burst), time.monotonic,
                               recorder.pseudonyms, recorder)
    # The log's read-only queries on a streaming replica when there is one (never migrated here).
    replica = (SqlUnitOfWork(make_engine(settings.database_replica_url), protection, insurers=uow.insurers)
               if settings.database_replica_url else None)
    audit = AuditService(uow, clock, signer, settings.log_origin, recorder, witnesses, replica,
                         storage=SqlLogStorage(engine, settings.var_dir / "archive"))
    incidents = IncidentService(uow, clock, recorder, audit)
    connectors = connectors_of()
    relay_settings = RelaySettings(horizon=timedelta(hours=settings.delivery_horizon_hours),
                                   lease=timedelta(seconds=settings.delivery_lease_seconds))
    return Platform(
        settings=settings,
        engine=engine,
        loader=SqlBulkLoader(engine, protection),
        protection=protection,
        clock=clock,
        accounts=accounts,
        onboarding=OnboardingService(uow, clock, recorder, accounts),
        listings=ListingsService(uow, clock, recorder),
        review=ReviewService(uow, clock, recorder, detection),
        networks=NetworksService(uow, clock, recorder),
        members=MembersService(uow, clock, recorder),
        lifecycle=LifecycleService(uow, clock, recorder, detection),
        bank_details=BankDetailsService(uow, clock, accounts, timedelta(hours=settings.bank_change_delay_hours)),
        reference=ReferenceService(uow, clock, recorder),
        rights=RightsService(uow, clock, SqlWriteQueue(uow), recorder, PresenceVerifier(presence_issuer.public_key),
                             detection),
        detection=detection,
        presence=PresenceService(uow, clock, recorder, presence_issuer),
        calculation=CalculationService(uow, clock, recorder, detection),
        claims=ClaimsService(uow, clock, recorder, detection),
        payments=PaymentsService(uow, clock, writer, recorder),
        audit=audit,
        incidents=incidents,
        incident_reports=IncidentReportsService(incidents),
        incident_exports=IncidentExportsService(incidents),
        # Key operations are always on the log, benchmark switch or not (docs/ARCHITECTURE.md).
        keys=KeysService(SqlUnitOfWork(engine, protection, insurers=uow.insurers), clock, recorder,
                         pause=lambda: time.sleep(0.005)),
        delivery=DeliveryService(uow, clock, recorder, connectors),
        relay=Relay(uow, clock, dict(connectors), relay_settings, transport=transport_of(settings, relay_settings)),
        uow=uow,
        operations=SqlOperations(uow),
        signer=signer_lease(engine, settings.var_dir),
    )


def oidc_settings(settings: Settings) -> OidcSettings:
    """Pro Santé Connect's client settings; for private_key_jwt, the platform's private key read
    from TIERS_OIDC_CLIENT_KEY_FILE (a missing or bad file stops the start, the variable named)."""
    key = None
    if settings.oidc_client_auth == "private_key_jwt" and settings.oidc_client_key_file is not None:
        try:
            key = client_key(settings.oidc_client_key_file.read_bytes())
        except (OSError, ValueError) as exc:
            problem = str(exc) if isinstance(exc, ValueError) else "cannot be read"
            shown = repr(str(settings.oidc_client_key_file))
            raise SettingsError([f"TIERS_OIDC_CLIENT_KEY_FILE: {problem}: {shown}"]) from None
    return OidcSettings(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret,
                        settings.oidc_redirect_uri, settings.oidc_acr_values, settings.oidc_auth_modes,
                        settings.oidc_client_auth, key)


def transport_of(settings: Settings, relay: RelaySettings) -> Transport | None:
    """The transport between relays, if one is configured (TIERS_DELIVERY_TRANSPORT)."""
    if not settings.delivery_transport:
        return None
    return JetStreamTransport(settings.delivery_transport, settings.delivery_stream,
                              ack_wait=relay.lease.total_seconds(), max_deliver=relay.max_deliver)


def connectors_of() -> dict[Channel, Connector]:
    """One connector per channel (delivery/)."""
    made: list[Connector] = [WebhookConnector(), FileDropConnector(), EmailConnector(), SmsConnector()]
    return {c.channel: c for c in made}
