"""Transparency log: every access to personal data on a tamper-evident record (RFC 9162 style).

``merkle`` is the pure tree maths (hashing, proofs, verification)."""
