"""Pure business rules and types. No I/O, no clock, no randomness: everything is a parameter."""
