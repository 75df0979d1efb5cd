"""Is an export in the earlier system's layout?

The earlier exports (REFERENCE.md §5.3) share today's `schema_version` and format
version, so the manifest tells them apart by what it does not know: the `settings`
entity, which every export of this system lists (as a file, or omitted). Records then
show their legacy shape by their field names (`records`)."""

from __future__ import annotations

from typing import Any

from dataops.portable.format import SCHEMA_VERSION


def legacy_reason(manifest: Any) -> str | None:
    """Why `manifest` is one of the earlier system's, or None when it is not."""
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        return None
    files = manifest.get("entity_files")
    omitted = manifest.get("omitted_entities")
    if not isinstance(files, dict) or not isinstance(omitted, list):
        return None
    if "settings" in files or "settings" in omitted:
        return None
    redactions = manifest.get("redactions")
    tokens = isinstance(redactions, list) and "api_tokens" in redactions
    return (
        "an export of the earlier DataOps (its manifest lists no settings entity"
        + ("" if tokens else " and no api_tokens redaction")
        + "): each legacy shape is mapped to today's record and reported as a warning"
    )
