"""Portable export, validation and import (CONTRACT §6): streaming and backend-agnostic.

Imports only `dataops.domain`, the metadata-store port and the standard library, so the
same code serves the CLI, the engine route and any backend behind the port.
"""
