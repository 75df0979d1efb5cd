"""Importing an export into a store: validate first, then write (the bulk path on SQLite)."""
