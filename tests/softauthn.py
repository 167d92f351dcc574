"""The simulated authenticator the tests use (it lives in the package for the demo too)."""

from tierspayant.security.authenticator import SoftAuthenticator
from tierspayant.security.encoding import b64url_encode as b64url

__all__ = ["SoftAuthenticator", "b64url"]
