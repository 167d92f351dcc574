"""Codes a person types: Crockford's base32 (digits and 22 letters, no I, L, O, U; read I and L
as 1, O as 0, any case), in groups of four, ending with a check character (value mod 37,
Crockford's check symbols), so that a mistyped character or two swapped neighbours is caught at
the counter before anything is sent (https://www.crockford.com/base32.html)."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = ALPHABET + "*~$=U"
_READ = {c: i for i, c in enumerate(ALPHABET)} | {"I": 1, "L": 1, "O": 0}
GROUP = 4


class Mistyped(ValueError):
    """Not a typed code, or its check character does not match."""


def encode(data: bytes) -> str:
    """``data`` as groups of four characters and a check character: ``7ZQ4-...-K``."""
    bits = len(data) * 8
    value = int.from_bytes(data, "big") << (-bits % 5)  # pad to whole characters with zero bits
    chars = (bits + 4) // 5
    text = "".join(ALPHABET[(value >> (5 * (chars - 1 - i))) & 31] for i in range(chars))
    check = CHECK_SYMBOLS[int.from_bytes(data, "big") % 37]
    return "-".join(text[i:i + GROUP] for i in range(0, len(text), GROUP)) + "-" + check


def decode(code: str, length: int) -> bytes:
    """The ``length`` bytes ``code`` spells (separators and spaces ignored); ``Mistyped`` if a
    character is not of the alphabet, the length or the padding is wrong, or the check fails."""
    text = "".join(c for c in code.upper() if c not in "- \t\r\n")
    chars = (length * 8 + 4) // 5
    if len(text) != chars + 1 or text[-1] not in CHECK_SYMBOLS:
        raise Mistyped()
    value = 0
    for c in text[:-1]:
        if c not in _READ:
            raise Mistyped()
        value = value << 5 | _READ[c]
    pad = -length * 8 % 5
    if value & ((1 << pad) - 1):
        raise Mistyped()  # one spelling per code: the padding bits are zero
    value >>= pad
    if CHECK_SYMBOLS.index(text[-1]) != value % 37:
        raise Mistyped()
    return value.to_bytes(length, "big")
