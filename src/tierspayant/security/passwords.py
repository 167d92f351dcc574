"""Passwords: Argon2id with argon2-cffi's defaults (RFC 9106 profile), >= 12 characters, checked
against common passwords, no composition rules, no rotation (NIST SP 800-63B 3.1.1.2; ASVS 6.2)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tierspayant.domain.errors import InvalidField

_HASHER = PasswordHasher()
#: A hash of a random password, verified when the account does not exist so that an unknown
#: user costs the same time as a wrong password (no user enumeration by timing, ASVS 6.3.8).
_DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone-8c1f")

MIN_LENGTH = 12
_COMMON = frozenset(
    {
        "123456789012", "password1234", "azertyuiop12", "motdepasse12", "qwertyuiop12",
        "000000000000", "111111111111", "123123123123", "passwordpassword", "iloveyou1234",
        "administrator", "motdepasse123", "azerty123456", "soleil123456", "bonjour12345",
    }
)


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidField("password", f"at least {MIN_LENGTH} characters")
    if len(password) > 256:
        raise InvalidField("password", "at most 256 characters")
    if password.lower() in _COMMON:
        raise InvalidField("password", "too common; choose another")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. With ``stored_hash`` None (unknown account) a dummy hash is
    verified anyway and False returned."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
