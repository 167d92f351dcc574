"""Errors raised by the domain.

Every domain error names the *field* at fault so that the API can answer with an RFC 9457
problem detail pointing at it (brief: "4xx with the field at fault").

    DomainError
     +-- InvalidField        one input value is malformed (bad NIR key, 3-decimal amount...)
     +-- RuleRefused     the request breaks a rule of law (a class A price above its PLV...)
          +-- ConfigurationRejected  a contract breaks a legal bound (R871-2 CSS, D911-1 CSS)
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation the domain reports."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


class InvalidField(DomainError):
    """One input value is malformed or out of range."""


class RuleRefused(DomainError):
    """The request breaks a rule of law; ``code`` is the stable rule code (e.g.
    ``CLASS_A_ABOVE_PLV``) and ``rule`` the text it comes from."""

    def __init__(self, field: str, code: str, rule: str, message: str) -> None:
        super().__init__(field, message, code)
        self.rule = rule


class ConfigurationRejected(RuleRefused):
    """A contract configuration breaks a legal rule (e.g. ``BELOW_LEGAL_FLOOR``)."""
