"""The simulated authenticator the tests use (it lives in the package for the demo too)."""

from tierspayant.security.encoding import b64url_encode as b64url
from tierspayant.simulate.authenticator import SoftAuthenticator

__all__ = ["SoftAuthenticator", "b64url"]
