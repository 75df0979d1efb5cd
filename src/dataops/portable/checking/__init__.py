"""Checking an export: every line against the record rules, the cross-record checks
(duplicates, relationships, proof) over a scratch index, in worker processes.
"""
