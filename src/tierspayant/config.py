"""Typed settings, read once from the environment (``TIERS_*``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_VAR = Path("var")


@dataclass(frozen=True, slots=True)
class Settings:
    #: SQLAlchemy URL; SQLite under var/ by default, e.g. postgresql+psycopg://user@host/db.
    database_url: str = f"sqlite:///{DEFAULT_VAR / 'tierspayant.db'}"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    #: Requests with a larger body are refused with 413.
    max_body_bytes: int = 64 * 1024
    #: The operator's account that pays professionals (synthetic default for the demo).
    debtor_name: str = "Tierspayant Demo Operator"
    debtor_iban: str = "FR7630006000011234567890189"
    debtor_bic: str = "AGRIFRPPXXX"
    var_dir: Path = DEFAULT_VAR
    #: Transparency log: the checkpoint origin line, how often checkpoints are signed, and the
    #: witnesses whose cosignatures are accepted (C2SP vkeys, comma-separated).
    log_origin: str = "tierspayant.example/log"
    checkpoint_seconds: float = 60.0
    witness_keys: tuple[str, ...] = ()
    #: Benchmarks only: drop access events instead of recording them, to measure what the log
    #: costs (bench/http_bench.py --compare-no-log). Never set in production: it breaks promise 5.
    unsafe_no_access_log: bool = False
    #: Benchmarks only: store protected fields base64-encoded in clear, to measure what field
    #: encryption costs (bench/http_bench.py --compare-encryption). Never in production (T5).
    unsafe_plaintext_fields: bool = False
    #: Benchmarks only: count nothing and contain nothing, to measure what detection costs on
    #: the rights check (bench/http_bench.py --compare-detection). Never in production (T2).
    unsafe_no_detection: bool = False
    #: Detection thresholds overriding the documented defaults platform-wide (JSON object,
    #: detection/thresholds.py); each insurer may override them again.
    detection: Mapping[str, Any] | None = None
    #: ``tiers simulate`` only: an accelerated clock shared by every worker (simulate/clock.py).
    simulated_clock: str = ""
    #: WebAuthn relying party: the domain passkeys are bound to, and the exact web origin.
    webauthn_rp_id: str = "localhost"
    webauthn_origin: str = "http://localhost:8000"
    #: Pro Santé Connect-style OpenID Connect (off when the issuer is empty).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_uri: str = "http://localhost:8000/v1/oidc/callback"
    oidc_acr_values: tuple[str, ...] = ("eidas3",)
    #: A change of a professional's bank details takes effect this long after it is requested.
    bank_change_delay_hours: float = 72.0
    #: How long a throttled source's sign-in attempt is held before its 429 (a tarpit,
    #: api/source_gate.py); 0 answers at once.
    sign_in_hold_seconds: float = 30.0

    @property
    def key_dir(self) -> Path:
        """Key files live outside the database (mode 0600)."""
        return self.var_dir / "keys"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        var_dir = Path(env.get("TIERS_VAR_DIR", str(DEFAULT_VAR)))
        d = cls()
        return cls(
            database_url=env.get("TIERS_DATABASE_URL", f"sqlite:///{var_dir / 'tierspayant.db'}"),
            host=env.get("TIERS_HOST", d.host),
            port=int(env.get("TIERS_PORT", str(d.port))),
            workers=int(env.get("TIERS_WORKERS", str(d.workers))),
            max_body_bytes=int(env.get("TIERS_MAX_BODY_BYTES", str(d.max_body_bytes))),
            debtor_name=env.get("TIERS_DEBTOR_NAME", d.debtor_name),
            debtor_iban=env.get("TIERS_DEBTOR_IBAN", d.debtor_iban),
            debtor_bic=env.get("TIERS_DEBTOR_BIC", d.debtor_bic),
            var_dir=var_dir,
            log_origin=env.get("TIERS_LOG_ORIGIN", d.log_origin),
            checkpoint_seconds=float(env.get("TIERS_CHECKPOINT_SECONDS", str(d.checkpoint_seconds))),
            witness_keys=tuple(k for k in env.get("TIERS_WITNESS_KEYS", "").split(",") if k),
            unsafe_no_access_log=env.get("TIERS_UNSAFE_NO_ACCESS_LOG", "") == "1",
            unsafe_plaintext_fields=env.get("TIERS_UNSAFE_PLAINTEXT_FIELDS", "") == "1",
            unsafe_no_detection=env.get("TIERS_UNSAFE_NO_DETECTION", "") == "1",
            detection=json.loads(env["TIERS_DETECTION"]) if env.get("TIERS_DETECTION") else None,
            simulated_clock=env.get("TIERS_SIMULATED_CLOCK", ""),
            webauthn_rp_id=env.get("TIERS_WEBAUTHN_RP_ID", d.webauthn_rp_id),
            webauthn_origin=env.get("TIERS_WEBAUTHN_ORIGIN", d.webauthn_origin),
            oidc_issuer=env.get("TIERS_OIDC_ISSUER", ""),
            oidc_client_id=env.get("TIERS_OIDC_CLIENT_ID", ""),
            oidc_client_secret=env.get("TIERS_OIDC_CLIENT_SECRET", ""),
            oidc_redirect_uri=env.get("TIERS_OIDC_REDIRECT_URI", d.oidc_redirect_uri),
            oidc_acr_values=tuple(env.get("TIERS_OIDC_ACR_VALUES", "eidas3").split()),
            bank_change_delay_hours=float(env.get("TIERS_BANK_CHANGE_DELAY_HOURS", str(d.bank_change_delay_hours))),
            sign_in_hold_seconds=float(env.get("TIERS_SIGN_IN_HOLD_SECONDS", str(d.sign_in_hold_seconds))),
        )
