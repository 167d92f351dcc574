"""Use cases, one module per capability. They depend on ``ports`` only; ``bootstrap`` gives
them the concrete store, clock and payment-file writer."""
