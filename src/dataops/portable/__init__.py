"""Portable export, validation and import (CONTRACT §6): streaming and backend-agnostic.

Imports only `dataops.domain`, the metadata-store port and the standard library, so the
same code serves the CLI, the engine route and any backend behind the port.

The layout every step shares is here (`format`, `schema`, `archive`, `lines`,
`report`); the steps are sub-packages: `writing` (export), `checking` (validate),
`importing` (import) and `legacy` (exports of the earlier DataOps, read in today's
layout before they are checked).
"""
