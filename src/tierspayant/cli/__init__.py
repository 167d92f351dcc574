"""The ``tiers`` command."""
