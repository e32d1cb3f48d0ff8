"""Observed (live) state of a cluster as plain data, read by the providers."""
