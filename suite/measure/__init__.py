"""Memory and time meters, applied to every method alike (the protocol is in README.md)."""
