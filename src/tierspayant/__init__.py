"""tierspayant: a breach-resistant French tiers payant platform.

Layout (see the README's architecture section):

- ``domain``    pure rules and types (identifiers, money, contracts, optics, calculation,
                adjudication, payment orders) -- stdlib and python-stdnum only;
- ``security``  safe recipes (passwords, TOTP, session tokens, access policy); primitives only
                in ``security._hazmat``;
- ``services``  use cases, one module per capability; ``services.ports`` declares what they need;
- ``store``     SQLAlchemy tables, repositories, unit of work, Alembic migrations;
- ``api``       the HTTP app (FastAPI), thin routers, schemas, problem details;
- ``cli``       the ``tiers`` command;
- ``simulate``  synthetic population;
- ``bootstrap`` the one composition root.
"""

__version__ = "0.1.0"
