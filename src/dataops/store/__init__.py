"""Metadata persistence: the port and its backends."""
