"""Safe recipes only. Callers never choose algorithms, nonces or modes; the primitives live in
``security._hazmat`` (a ruff banned-import rule keeps ``secrets``, ``hmac`` and
``cryptography.hazmat`` there)."""
