"""Entities, enums and rules. Pure: imports nothing outside the standard library."""
