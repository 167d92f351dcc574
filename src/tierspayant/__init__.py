"""tierspayant: a breach-resistant French tiers payant platform.

Layout (docs/ARCHITECTURE.md has it whole, with the import rules):

- ``domain``    pure rules and types (identifiers, money, contracts, optics, calculation,
                adjudication, payment orders) -- the standard library, python-stdnum, schwifty;
- ``security``  safe recipes (passwords, TOTP, tokens, field envelopes, presence proofs, access
                policy); primitives only in ``security._hazmat``;
- ``audit``, ``detection``  the transparency log; detection's pure decisions;
- ``services``  use cases, one module per capability; ``services.ports`` declares one port per
                capability, ``services.records`` the records they exchange;
- ``store``     one SQL class per port, the unit of work composing them, tables, migrations;
- ``delivery``  adapters to the outside (SEPA files, the OpenID Connect provider);
- ``api``       the HTTP app (FastAPI), thin routers, schemas, problem details;
- ``cli``       the ``tiers`` command;
- ``simulate``  synthetic population, simulated traffic and attacks, a simulated authenticator;
- ``bootstrap`` the one composition root.
"""

__version__ = "0.1.0"
