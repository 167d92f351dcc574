"""Unpadded base64url (RFC 4648 §5, without the ``=`` padding, as JOSE, WebAuthn and PKCE use
it): the one copy the security modules share."""

from __future__ import annotations

import base64
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """``data`` in base64url, without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``. Strict about the alphabet: any other character
    (``+``, ``/``, ``=``, whitespace, non-ASCII) raises ``ValueError`` instead of being skipped,
    and so does an impossible length (``binascii.Error``, a ``ValueError``). A ``text`` that is
    not a ``str`` raises ``TypeError``. Unused low bits of the last character are not checked:
    callers that need one spelling per value compare ``b64url_encode`` of the result."""
    if not _ALPHABET.fullmatch(text):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
