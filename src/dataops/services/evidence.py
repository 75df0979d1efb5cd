"""The proof rule's evidence, read from the metadata store through indexed lookups."""

from __future__ import annotations

from collections.abc import Sequence

from dataops.domain.enums import ArtifactStatus, ArtifactType
from dataops.domain.models import Artifact
from dataops.store.port import Filters, PageRequest, UnitOfWork


class StoreEvidence:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def first_file_id(self, task_id: str) -> str | None:
        page = self._uow.files.find(Filters({"task_id": task_id}), PageRequest(limit=1))
        return page.items[0].id if page.items else None

    def approved_artifacts(
        self,
        *,
        task_id: str | None,
        bundle_id: str | None,
        artifact_type: ArtifactType | None,
        limit: int,
    ) -> list[Artifact]:
        filters = {
            "task_id": task_id,
            "bundle_id": bundle_id,
            "status": ArtifactStatus.APPROVED.value,
            "type": artifact_type.value if artifact_type else None,
        }
        return self._uow.artifacts.find(Filters(filters), PageRequest(limit=limit)).items

    def artifacts_by_id(self, ids: Sequence[str]) -> list[Artifact]:
        return self._uow.artifacts.get_many(ids)
