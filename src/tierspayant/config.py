"""Typed settings, read once from the environment (``TIERS_*``) and validated at start.

Each field ``name`` is read from the variable ``TIERS_NAME`` (``database_url`` from
``TIERS_DATABASE_URL``; the names are upper case, exactly as before). Values are written as
users write them:

- booleans: ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off`` (any case); empty
  is the default (off); anything else is an error;
- ``TIERS_WITNESS_KEYS``: comma-separated; ``TIERS_OIDC_ACR_VALUES``, ``TIERS_OIDC_AUTH_MODES``: space-separated;
- ``TIERS_DETECTION``: a JSON object (keys of detection/thresholds.py; empty: none);
- numbers: a bad one is an error naming its variable.

Every bad variable is reported at once, in one :class:`SettingsError` (a ``ValueError``)::

    TIERS_PORT: not an integer: 'abc'
    TIERS_UNSAFE_NO_DETECTION: not a boolean (1/0, true/false, yes/no, on/off): 'maybe'

Where values come from (a choice): only :meth:`Settings.from_env` reads variables -- the
process environment, or exactly the mapping it is given. Constructing ``Settings(...)``
directly uses the keyword arguments and the defaults, nothing else: no environment, no
``.env`` file, no secrets directory (``settings_customise_sources``). Tests and benchmarks that
build settings by hand are therefore never affected by a stray ``TIERS_*`` variable in the
shell that runs them, and what is read from where is in one place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tierspayant.detection.thresholds import Thresholds

DEFAULT_VAR = Path("var")
ENV_PREFIX = "TIERS_"
#: Fields whose value is never echoed back (not in errors, not in ``repr``; ``tiers config
#: show`` masks them). A database URL's password is masked by ``tiers config show`` too.
SECRET_FIELDS = frozenset({"oidc_client_secret", "pkcs11_pin"})

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_BOOLEAN_WORDS = "1/0, true/false, yes/no, on/off"


def env_name(field: str) -> str:
    """The variable a field is read from: ``port`` -> ``TIERS_PORT``."""
    return ENV_PREFIX + field.upper()


def _default_database_url(data: dict[str, Any]) -> str:
    # ``var_dir`` is declared (hence validated) before ``database_url``: the default follows it.
    return f"sqlite:///{Path(data.get('var_dir', DEFAULT_VAR)) / 'tierspayant.db'}"


class SettingsError(ValueError):
    """Bad settings: one line per bad variable, ``TIERS_NAME: what is wrong: 'value'``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)

    @classmethod
    def from_validation(cls, error: ValidationError) -> SettingsError:
        return cls([_describe(e) for e in error.errors(include_url=False)])


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    kind, value = error["type"], error.get("input")
    shown = "" if field in SECRET_FIELDS else f": {value!r}"
    if kind == "value_error" and "ctx" in error:  # our validators: the message shows the value
        problem, shown = str(error["ctx"]["error"]), ""
    elif kind.startswith("int_"):
        problem = "not an integer"
    elif kind.startswith("float_"):
        problem = "not a number"
    elif kind.startswith("bool_"):
        problem = f"not a boolean ({_BOOLEAN_WORDS})"
    elif kind in ("greater_than_equal", "less_than_equal"):
        bound = error.get("ctx", {}).get("ge" if kind == "greater_than_equal" else "le")
        problem = f"must be {'at least' if kind == 'greater_than_equal' else 'at most'} {bound}"
    elif kind == "extra_forbidden":
        problem, shown = "not a setting", ""
    else:
        problem = error["msg"][:1].lower() + error["msg"][1:]
    return f"{env_name(field)}: {problem}{shown}"


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ`` or another).

    Only upper-case ``TIERS_*`` names count, as before (``tiers_port`` is not ``TIERS_PORT``)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and k == k.upper()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._mapping.items()}


class Settings(BaseSettings):
    """The platform's settings; see the module docstring for how they are read and checked."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid", case_sensitive=False)

    #: Demo data, key files (``key_dir``) and, by default, the SQLite database live here.
    var_dir: Path = DEFAULT_VAR
    #: SQLAlchemy URL; SQLite under var_dir by default, e.g. postgresql+psycopg://user@host/db.
    database_url: str = Field(default_factory=_default_database_url, repr=False)  # may hold a password
    #: PostgreSQL: a streaming replica of that database for the log's read-only queries (one
    #: beneficiary's history, an account's exposure, key operations: seconds of lag do not
    #: matter there; README "Deployment"). Empty: they run on the primary.
    database_replica_url: str = Field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=2, ge=1)
    #: Requests with a larger body are refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, ge=1)
    #: A membership file's largest body (POST /v1/insurers/{amc}/member-files, streamed to disk):
    #: 20 million members of ~110 bytes a line.
    max_member_file_bytes: int = Field(default=4 * 1024**3, ge=1)
    #: The operator's account that pays professionals (synthetic default for the demo).
    debtor_name: str = "Tierspayant Demo Operator"
    debtor_iban: str = "FR7630006000011234567890189"
    debtor_bic: str = "AGRIFRPPXXX"
    #: Transparency log: the checkpoint origin line; a checkpoint is signed once this many
    #: seconds passed or this many events were appended since the last, whichever comes first
    #: (0 seconds: never) -- events not yet covered could be deleted unseen, so the uncovered
    #: tail stays short (docs/THREATS.md, "Breach response"); and the witnesses whose
    #: cosignatures are accepted (C2SP vkeys, comma-separated).
    log_origin: str = "tierspayant.example/log"
    checkpoint_seconds: float = Field(default=5.0, ge=0)
    checkpoint_events: int = Field(default=1000, ge=1)
    #: Detection's housekeeping beat: old counters dropped, baselines learned, insurers watched.
    housekeeping_seconds: float = Field(default=60.0, gt=0)
    witness_keys: Annotated[tuple[str, ...], NoDecode] = ()
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
    detection: Annotated[Mapping[str, Any] | None, NoDecode] = None
    #: ``tiers simulate`` only: an accelerated clock shared by every worker (simulate/clock.py).
    simulated_clock: str = ""
    #: WebAuthn relying party: the domain passkeys are bound to, and the exact web origin.
    webauthn_rp_id: str = "localhost"
    webauthn_origin: str = "http://localhost:8000"
    #: Pro Santé Connect, OpenID Connect (off when the issuer is empty).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = Field(default="", repr=False)
    oidc_redirect_uri: str = "http://localhost:8000/v1/oidc/callback"
    #: Space-separated in TIERS_OIDC_ACR_VALUES: asked for and accepted (PSC: eidas1, card or e-CPS).
    oidc_acr_values: Annotated[tuple[str, ...], NoDecode] = ("eidas1",)
    #: Space-separated in TIERS_OIDC_AUTH_MODES: the means of authentication (PSC's ``authMode``)
    #: accepted -- the CPS card and the e-CPS app; empty accepts any, even none.
    oidc_auth_modes: Annotated[tuple[str, ...], NoDecode] = ("CARD", "MOBILE")
    #: How the platform authenticates at the token endpoint, as its client is registered:
    #: client_secret_basic, client_secret_post or private_key_jwt (security/oidc.py); for
    #: private_key_jwt, the platform's private key file (PEM, RSA or EC P-256, or a JWK).
    oidc_client_auth: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = "client_secret_basic"
    oidc_client_key_file: Path | None = Field(default=None, validate_default=True)
    #: A change of a professional's bank details takes effect this long after it is requested.
    bank_change_delay_hours: float = Field(default=72.0, ge=0)
    # -- the key-encryption key (docs/THREATS.md T5, "Key custody"; bootstrap.key_custody) ---------
    #: Which KEK wraps the data keys: ``file``, a 256-bit key in ``var/keys/kek.key`` beside the
    #: database (the embedded default, ``make run``); ``pkcs11``, an AES-256 key inside a hardware
    #: security module that never leaves it (security/pkcs11_kek.py). For ``pkcs11``: the module
    #: (a shared library, e.g. /usr/lib/softhsm/libsofthsm2.so), the token's label, the user PIN
    #: -- in a file (``pkcs11_pin_file``, mode 0600) rather than in TIERS_PKCS11_PIN, whose value
    #: any process of the same account reads in /proc/PID/environ -- and the key's label (created
    #: once by ``tiers keys hsm-init``, never at start-up).
    kek: Literal["file", "pkcs11"] = "file"
    pkcs11_library: str = Field(default="", validate_default=True)
    pkcs11_token: str = Field(default="", validate_default=True)
    pkcs11_pin: str = Field(default="", repr=False)
    pkcs11_pin_file: Path | None = Field(default=None, validate_default=True)
    pkcs11_key_label: str = Field(default="tierspayant-kek", min_length=1)

    @field_validator("pkcs11_library", "pkcs11_token")
    @classmethod
    def _required_with_pkcs11(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kek") == "pkcs11" and not value.strip():
            what = "the PKCS#11 module's path" if info.field_name == "pkcs11_library" else "the token's label"
            raise ValueError(f"required with TIERS_KEK=pkcs11 ({what})")
        return value

    @field_validator("pkcs11_pin_file")
    @classmethod
    def _one_pin(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if info.data.get("kek") == "pkcs11":
            if value is None and not info.data.get("pkcs11_pin"):
                raise ValueError("required with TIERS_KEK=pkcs11 (a file holding the token's user PIN, mode "
                                 "0600; or TIERS_PKCS11_PIN)")
            if value is not None and info.data.get("pkcs11_pin"):
                raise ValueError("give TIERS_PKCS11_PIN_FILE or TIERS_PKCS11_PIN, not both")
        return value
    # -- end of the key-encryption key's settings --
    #: Delivery (services/relay.py): the relay runs inside ``tiers serve`` (each worker: their
    #: leases keep them apart) unless this is false (then run ``tiers relay``); a message is
    #: tried for this many hours before it is dead (replayable).
    relay: bool = True
    delivery_horizon_hours: float = Field(default=72.0, gt=0)
    #: A relay holds the messages it took this long: one killed mid-delivery leaves them to
    #: another once it runs out (with NATS: the transport's ack wait).
    delivery_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    #: Empty: relays deliver from the database's outbox. ``nats://host:port``: they publish it
    #: to NATS JetStream, the stream ``delivery_stream`` (file storage), and each destination's
    #: durable consumer delivers (delivery/jetstream.py), for several API nodes and relays.
    delivery_transport: str = Field(default="", pattern=r"^(nats://[A-Za-z0-9.\-]+(:[0-9]{1,5})?)?$")
    delivery_stream: str = Field(default="TIERS_DELIVERY", pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    #: How long a throttled source's sign-in attempt is held before its 429 (a tarpit,
    #: api/source_gate.py); 0 answers at once.
    sign_in_hold_seconds: float = Field(default=30.0, ge=0)
    #: Request-rate limits (docs/THREATS.md, "Floods"), per server process: each session token
    #: ``session_rate`` requests a second sustained, ``session_burst`` at once, at most
    #: ``session_in_flight`` at a time (api/rate_gate.py); each account across its sessions
    #: ``account_rate`` / ``account_burst`` (services/accounts.py); a source whose bearer tokens
    #: got more than ``invalid_tokens_per_source`` 401s in 10 s has its unknown tokens refused for
    #: a minute. Refusals are held ``flood_hold_seconds`` (a tarpit) before their 429. A counter
    #: does a check every few seconds; practice software's batches stay far below.
    session_rate: float = Field(default=10.0, gt=0)
    session_burst: float = Field(default=50.0, ge=1)
    session_in_flight: int = Field(default=8, ge=1)
    account_rate: float = Field(default=20.0, gt=0)
    account_burst: float = Field(default=100.0, ge=1)
    invalid_tokens_per_source: int = Field(default=20, ge=1)
    flood_hold_seconds: float = Field(default=1.0, ge=0)
    #: Operations (issue 19, point 4; README "Operations"). Logs of ``tiers serve`` (its workers
    #: and granian's own) and of the other commands: ``json`` writes one object per line (time
    #: in UTC, level, logger, message, extra fields; an exception by its type and frames, never
    #: its text, which may quote values), ``text`` lines for a terminal; at ``log_level`` and
    #: above. ``/metrics`` (Prometheus) answers a bearer token whose SHA-256 (hex) is
    #: ``metrics_token_sha256``, compared in constant time -- the server holds no usable secret,
    #: as with session tokens (security/tokens.py); without one, only direct loopback clients (no proxy's
    #: forwarding header).
    log_format: Literal["json", "text"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    metrics_token_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError.from_validation(exc) from None

    @property
    def key_dir(self) -> Path:
        """Key files live outside the database (mode 0600)."""
        return self.var_dir / "keys"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``TIERS_*`` variables: ``os.environ``, or only ``env`` when it is given.

        Raises :class:`SettingsError` naming every bad variable."""
        values = _MappingEnvSource(cls, os.environ if env is None else env)()
        return cls(**values)

    def from_environment(self, field: str) -> bool:
        """Whether ``field`` was given (by a variable for :meth:`from_env`), not defaulted."""
        return field in self.model_fields_set

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments only: reading variables is from_env's job (module docstring).
        return (init_settings,)

    @field_validator("unsafe_no_access_log", "unsafe_plaintext_fields", "unsafe_no_detection", mode="before")
    @classmethod
    def _boolean(cls, value: object) -> object:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValueError(f"not a boolean ({_BOOLEAN_WORDS}): {value!r}")
        return value

    @field_validator("witness_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("oidc_acr_values", "oidc_auth_modes", mode="before")
    @classmethod
    def _space_separated(cls, value: object) -> object:
        return tuple(value.split()) if isinstance(value, str) else value

    @field_validator("oidc_client_key_file")
    @classmethod
    def _key_file_for_private_key_jwt(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("oidc_client_auth") == "private_key_jwt" and info.data.get("oidc_issuer"):
            raise ValueError("required with TIERS_OIDC_CLIENT_AUTH=private_key_jwt (the platform's private key)")
        return value

    @field_validator("detection", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}): "
                                 f"{exc.doc!r}") from None
            if not isinstance(value, dict):
                raise ValueError(f"not a JSON object: {value!r}")
        if isinstance(value, Mapping):
            Thresholds.from_config(value)  # unknown keys are an error now, not at the first check
        return value
