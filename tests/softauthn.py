"""The simulated authenticator the tests use (it lives in the package for the demo too)."""

from tierspayant.security.authenticator import SoftAuthenticator, b64url

__all__ = ["SoftAuthenticator", "b64url"]
