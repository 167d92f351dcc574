"""The HTTP API: versioned under ``/v1``, OpenAPI at ``/docs``, errors as RFC 9457 problems."""
