"""The one place that touches cryptographic primitives and the OS CSPRNG."""
