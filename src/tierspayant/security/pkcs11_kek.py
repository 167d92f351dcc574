"""The key-encryption key in a hardware security module, over PKCS#11 (docs/THREATS.md T5, "Key
custody"; ``TIERS_KEK=pkcs11``).

The KEK is an AES-256 secret key *inside* the token: generated there once (``tiers keys
hsm-init``), sensitive and never extractable, found by its label after a user-PIN login.
Wrapping a data key is the token encrypting its 32 bytes with that key (CKM_AES_GCM, a random
96-bit nonce, 128-bit tag, the associated data ``dek|insurer|version`` every KEK adapter binds);
unwrapping is the token decrypting them. The KEK's value never reaches this process, so a copy
of the database and of ``var/`` without the token unwraps nothing. What the process keeps are
the unwrapped *data* keys, in memory only (``KeyRing``): the token is asked once per data-key
version per process and at each rotation, never on a rights check.

A wrapped key reads ``p11.`` + base64url(nonce ‖ ciphertext ‖ tag); a key file's are bare
base64url, so neither adapter takes the other's for its own (the composition root says which
one a database needs, ``store/key_custody.py``).

Concurrency (granian workers are forked processes, each with several threads):

- python-pkcs11 initialises a module with ``C_Initialize(NULL)``, which tells it the application
  makes no concurrent calls (PKCS#11 v2.40, C_Initialize), so every call into a module here
  holds one lock per process (``_LOCK``);
- login is per application, not per session: one logged-in session per (module, token) per
  process, shared by the adapters, never logged out while they live (closing a logged-in
  session logs every session of the application out);
- a forked child may not use its parent's module state (PKCS#11 v2.40, C_Initialize: a child
  initialises Cryptoki for itself): before a fork the process closes its sessions and finalises
  the modules (``reset``, registered with ``os.register_at_fork``; its adapters reopen on their
  next call), so the child starts from nothing; a child that finds it was forked anyway (its
  parent's pid on the state) initialises the module again.

Failures: a bad setting is a :class:`Pkcs11Problem` naming it (one line, never the PIN); a value
that does not decrypt is ``InvalidCiphertext``; a token that stops answering, after one new
session, is ``KeyCustodyUnavailable`` -- never "not found"."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from tierspayant.security._hazmat.primitives import random_bytes, sha256_hex
from tierspayant.security.encoding import b64url_decode, b64url_encode
from tierspayant.security.fields import TOKEN_WRAPPED_PREFIX as PREFIX
from tierspayant.security.fields import InvalidCiphertext, KeyCustodyUnavailable, data_key_aad

DEFAULT_KEY_LABEL = "tierspayant-kek"
_NONCE, _DATA_KEY, _TAG = 12, 32, 16

#: The KEK's template at generation (``create_key``): it stays in the token (TOKEN, SENSITIVE,
#: not EXTRACTABLE, not COPYABLE), cannot be changed (not MODIFIABLE), and only encrypts and
#: decrypts (capabilities below): no wrapping of other token keys, no signing, no derivation.
_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: False, Attribute.COPYABLE: False,
}
_CAPABILITIES = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT

#: Errors that say the session, the object handle or the device is gone -- not that a value is
#: bad: the adapter opens a new session once and tries again.
_LOST: tuple[type[Exception], ...] = (
    p11.SessionHandleInvalid, p11.SessionClosed, p11.DeviceRemoved, p11.DeviceError, p11.DeviceMemory,
    p11.TokenNotPresent, p11.UserNotLoggedIn, p11.ObjectHandleInvalid, p11.KeyHandleInvalid,
)


@dataclass(frozen=True, slots=True)
class Pkcs11Config:
    """Where the KEK is: the PKCS#11 module (a shared library), the token's label, the user PIN
    (never shown) and the key's label."""

    library: str
    token: str
    pin: str = field(repr=False)
    key_label: str = DEFAULT_KEY_LABEL


class Pkcs11Problem(Exception):
    """The token cannot be used as configured. ``setting`` is what to fix (``library``,
    ``token``, ``pin``, ``pin_file``, ``key_label``); ``problem`` says what is wrong in one line
    (never the PIN)."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting, self.problem = setting, problem


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """What the token says of the KEK -- never its value."""

    token: str
    serial: str
    model: str
    label: str
    bits: int
    sensitive: bool
    extractable: bool
    always_sensitive: bool
    never_extractable: bool
    #: Generated inside the token (CKA_LOCAL), not imported from elsewhere.
    local: bool

    def describe(self) -> str:
        origin = "generated in the token" if self.local else "IMPORTED into the token"
        history = "always sensitive, never extractable" if self.always_sensitive and self.never_extractable \
            else "was extractable or not sensitive once"
        return (f"AES-{self.bits} key {self.label!r} on token {self.token!r} (serial {self.serial}, {self.model}): "
                f"sensitive={self.sensitive}, extractable={self.extractable}, {history}, {origin}")


def read_pin_file(path: Path) -> str:
    """The user PIN kept in ``path`` (its first line). Refused when other accounts may read the
    file, as ssh refuses such a private key: a PIN any account on the server reads is no secret."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise Pkcs11Problem("pin_file", f"cannot be read: {str(path)!r}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise Pkcs11Problem("pin_file", f"readable by other accounts (chmod 600): {str(path)!r}")
    pin = text.split("\n", 1)[0].rstrip("\r")
    if not pin:
        raise Pkcs11Problem("pin_file", f"empty first line: {str(path)!r}")
    return pin


# -- process-wide state: one lock, one initialised module and one login per token, per process ----
_LOCK = threading.RLock()
_LIBRARIES: dict[str, tuple[Any, int]] = {}  # module path -> (module, pid it was initialised in)
_LOGINS: dict[tuple[str, str], tuple[Any, str, int]] = {}  # (module, token) -> (session, PIN digest, pid)
_GENERATION = [0]  # bumped by reset(): adapters opened before find their key again


def _reason(exc: BaseException) -> str:
    text = str(exc).rsplit(": ", 1)[-1].strip()
    return text or type(exc).__name__


def _library(path: str) -> Any:
    loaded = _LIBRARIES.get(path)
    if loaded is not None and loaded[1] == os.getpid():
        return loaded[0]
    try:
        lib = pkcs11.lib(path)
        if loaded is not None:  # forked: the child initialises the module for itself
            lib.reinitialize()
    except (p11.PKCS11Error, OSError) as exc:
        raise Pkcs11Problem("library", f"cannot be loaded ({_reason(exc)}): {path!r}") from None
    _LIBRARIES[path] = (lib, os.getpid())
    for key in [k for k, login in _LOGINS.items() if k[0] == path and login[2] != os.getpid()]:
        del _LOGINS[key]  # the parent's sessions are not this process's
    return lib


def _token(lib: Any, config: Pkcs11Config) -> Any:
    try:
        return lib.get_token(token_label=config.token)
    except p11.NoSuchToken:
        present = sorted(repr(t.label) for t in lib.get_tokens() if t.label)
        raise Pkcs11Problem("token", f"no token labelled {config.token!r} in {config.library!r} "
                                     f"(present: {', '.join(present) or 'none'})") from None
    except p11.MultipleTokensReturned:
        raise Pkcs11Problem("token", f"several tokens are labelled {config.token!r}: give each its own") from None


def _session(config: Pkcs11Config) -> Any:
    """This process's logged-in session on the token (opened on first use)."""
    digest = sha256_hex(config.pin.encode())
    lib = _library(config.library)
    login = _LOGINS.get((config.library, config.token))
    if login is not None and login[2] == os.getpid():
        if login[1] != digest:
            raise Pkcs11Problem("pin", "not the PIN this process logged in to the token with")
        return login[0]
    token = _token(lib, config)
    try:
        session = token.open(user_pin=config.pin)
    except p11.UserAlreadyLoggedIn:  # a session this process forgot (lost, then reopened) is logged in
        session = token.open()
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
        raise Pkcs11Problem("pin", f"refused by token {config.token!r}") from None
    except p11.PinLocked:
        raise Pkcs11Problem("pin", f"locked on token {config.token!r} (its security officer must reset it)") from None
    except (p11.PinExpired, p11.UserPinNotInitialized):
        raise Pkcs11Problem("pin", f"expired or never set on token {config.token!r}") from None
    except p11.PKCS11Error as exc:
        raise Pkcs11Problem("token", f"cannot open a session on {config.token!r} ({_reason(exc)})") from None
    _LOGINS[(config.library, config.token)] = (session, digest, os.getpid())
    return session


def _forget(config: Pkcs11Config) -> None:
    """Drop a session that stopped working (not closed: that would log the others out)."""
    _LOGINS.pop((config.library, config.token), None)


def _facts(key: Any, session: Any) -> KeyFacts:
    a = key.get_attributes([Attribute.VALUE_LEN, Attribute.SENSITIVE, Attribute.EXTRACTABLE,
                            Attribute.ALWAYS_SENSITIVE, Attribute.NEVER_EXTRACTABLE, Attribute.LOCAL])
    token = session.token
    return KeyFacts(token.label, bytes(token.serial).decode(errors="replace").strip(), token.model, key.label,
                    int(a[Attribute.VALUE_LEN]) * 8, bool(a[Attribute.SENSITIVE]), bool(a[Attribute.EXTRACTABLE]),
                    bool(a[Attribute.ALWAYS_SENSITIVE]), bool(a[Attribute.NEVER_EXTRACTABLE]),
                    bool(a[Attribute.LOCAL]))


def _find_key(session: Any, config: Pkcs11Config) -> Any:
    """The KEK, refused unless it is AES-256, sensitive, not extractable, and may encrypt and
    decrypt (a key whose value can leave the token is a key file with extra steps)."""
    where = f"on token {config.token!r}"
    try:
        key = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=config.key_label)
    except p11.NoSuchKey:
        raise Pkcs11Problem("key_label", f"no AES key labelled {config.key_label!r} {where}: create it once with "
                                         "`tiers keys hsm-init`") from None
    except p11.MultipleObjectsReturned:
        raise Pkcs11Problem("key_label", f"several keys are labelled {config.key_label!r} {where}") from None
    facts = _facts(key, session)
    uses = key.get_attributes([Attribute.ENCRYPT, Attribute.DECRYPT])
    if facts.bits != 256:
        raise Pkcs11Problem("key_label", f"key {config.key_label!r} {where} is AES-{facts.bits}, not AES-256")
    if not facts.sensitive or facts.extractable:
        raise Pkcs11Problem("key_label", f"key {config.key_label!r} {where} can leave the token (sensitive="
                                         f"{facts.sensitive}, extractable={facts.extractable}): refused")
    if not (uses[Attribute.ENCRYPT] and uses[Attribute.DECRYPT]):
        raise Pkcs11Problem("key_label", f"key {config.key_label!r} {where} may not encrypt and decrypt")
    return key


class Pkcs11Kek:
    """The ``KeyEncryptionKey`` port on a PKCS#11 token (module docstring). Opening checks the
    module, the token, the PIN and the key at once: a start-up with a wrong one stops there."""

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        with _LOCK:
            try:
                self._key, self._epoch = self._open()
            except p11.PKCS11Error as exc:  # lost or refused (a Pkcs11Problem is not one: it names a setting)
                raise Pkcs11Problem("token", f"cannot use token {config.token!r} ({_reason(exc)})") from None

    def _open(self) -> tuple[Any, tuple[int, int]]:
        return _find_key(_session(self.config), self.config), (os.getpid(), _GENERATION[0])

    def facts(self) -> KeyFacts:
        with _LOCK:
            session = _session(self.config)
            return _facts(_find_key(session, self.config), session)

    def wrap(self, data_key: bytes, insurer_id: int, version: int) -> str:
        nonce = random_bytes(_NONCE)
        params = GCMParams(nonce, data_key_aad(insurer_id, version), _TAG * 8)
        sealed = self._call(lambda key: key.encrypt(data_key, mechanism=Mechanism.AES_GCM, mechanism_param=params),
                            decrypting=False)
        return PREFIX + b64url_encode(nonce + sealed)

    def unwrap(self, wrapped: str, insurer_id: int, version: int) -> bytes:
        if not wrapped.startswith(PREFIX):
            raise InvalidCiphertext()  # a key file's wrapped key, or nothing this token made
        try:
            raw = b64url_decode(wrapped[len(PREFIX):])
        except ValueError:
            raise InvalidCiphertext() from None
        if len(raw) != _NONCE + _DATA_KEY + _TAG:
            raise InvalidCiphertext()
        params = GCMParams(raw[:_NONCE], data_key_aad(insurer_id, version), _TAG * 8)
        plain = self._call(lambda key: key.decrypt(raw[_NONCE:], mechanism=Mechanism.AES_GCM, mechanism_param=params),
                           decrypting=True)
        if len(plain) != _DATA_KEY:
            raise InvalidCiphertext()
        return plain

    def _call(self, operation: Callable[[Any], Any], *, decrypting: bool) -> bytes:
        """One token operation under the process lock; a lost session is opened again once."""
        with _LOCK:
            for attempt in range(2):
                try:
                    if attempt or self._epoch != (os.getpid(), _GENERATION[0]):
                        self._key, self._epoch = self._open()
                except Pkcs11Problem as exc:
                    raise KeyCustodyUnavailable(str(exc)) from None
                except p11.PKCS11Error:
                    _forget(self.config)
                    continue
                try:
                    return bytes(operation(self._key))
                except _LOST:
                    _forget(self.config)
                except p11.PKCS11Error:
                    if decrypting:  # the tag does not verify (SoftHSM2 says CKR_GENERAL_ERROR): bad data
                        raise InvalidCiphertext() from None
                    raise KeyCustodyUnavailable(f"token {self.config.token!r} refused to wrap a data key") from None
        raise KeyCustodyUnavailable(f"token {self.config.token!r} does not answer")


def create_key(config: Pkcs11Config) -> KeyFacts:
    """Generate the KEK inside the token (``tiers keys hsm-init``), with ``_TEMPLATE``. Explicit,
    never at start-up: a platform that finds no key stops, since a mistyped label must not
    create a second KEK beside the one that wraps the data keys. Refuses when anything on the
    token already has the label."""
    with _LOCK:
        session = _session(config)
        if list(session.get_objects({Attribute.LABEL: config.key_label})):
            raise Pkcs11Problem("key_label", f"something labelled {config.key_label!r} is already on token "
                                             f"{config.token!r}: nothing created")
        try:
            with session.token.open(rw=True) as writer:  # the application is logged in: no PIN again
                writer.generate_key(KeyType.AES, 256, label=config.key_label, store=True,
                                    capabilities=_CAPABILITIES, template=_TEMPLATE)
        except p11.PKCS11Error as exc:
            raise Pkcs11Problem("token", f"cannot generate the key on {config.token!r} ({_reason(exc)})") from None
        return _facts(_find_key(session, config), session)


def _in_child() -> None:
    global _LOCK  # a lock held by another thread of the parent at the fork would never be released here
    _LOCK = threading.RLock()


# Registering is not opening: nothing is loaded at import (docs/ARCHITECTURE.md principle 3).
os.register_at_fork(before=lambda: reset(), after_in_child=_in_child)


def reset() -> None:
    """Close every session and finalise every module this process opened: before a fork (the
    child starts from nothing), and for tests and benchmarks (the next adapter pays the whole
    opening again). Adapters opened before reopen on their next call."""
    with _LOCK:
        for session, _, pid in _LOGINS.values():
            if pid == os.getpid():
                with contextlib.suppress(p11.PKCS11Error):
                    session.close()
        _LOGINS.clear()
        for lib, pid in _LIBRARIES.values():
            if pid == os.getpid() and lib.initialized:
                with contextlib.suppress(p11.PKCS11Error):
                    lib.finalize()
        _LIBRARIES.clear()
        _GENERATION[0] += 1
