"""Exports written by the earlier TypeScript DataOps (REFERENCE.md §5, CONTRACT §6 last
paragraph): detected from the manifest (`detect`), each record mapped to today's record
with a warning per legacy shape (`records`), the whole export rewritten into today's
layout before the usual checks run on it (`convert`)."""
