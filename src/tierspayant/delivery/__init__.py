"""Outbound channels: payment files today; insurer connectors and queues later."""
