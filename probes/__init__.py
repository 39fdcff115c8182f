"""Probes: read the machine and return plain values. A backend error never escapes as an exception."""
