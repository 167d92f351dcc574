"""Breach response, the pure parts (no I/O, like domain/): exposure scope, the Art. 33 report, the Art. 34 notices and their lint."""
