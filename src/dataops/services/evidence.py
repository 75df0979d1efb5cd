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


class PageEvidence(StoreEvidence):
    """The evidence of many tasks judged together, each lookup made once for all of them:
    a bundle's approved artifacts once however many of its tasks ask (a bundle page's
    tasks all share their bundle's), each task's first file once, and the artifacts the
    tasks and bundles reference read by key in one `get_many` per task that gets that far
    (one SQLite query, one BatchGetItem) and kept, so a bundle's refs are read once."""

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        self._by_id: dict[str, Artifact | None] = {}
        self._files: dict[str, str | None] = {}
        self._approved: dict[tuple[str | None, str | None, str | None, int], list[Artifact]] = {}

    def first_file_id(self, task_id: str) -> str | None:
        if task_id not in self._files:
            self._files[task_id] = super().first_file_id(task_id)
        return self._files[task_id]

    def approved_artifacts(
        self,
        *,
        task_id: str | None,
        bundle_id: str | None,
        artifact_type: ArtifactType | None,
        limit: int,
    ) -> list[Artifact]:
        key = (task_id, bundle_id, artifact_type.value if artifact_type else None, limit)
        if key not in self._approved:
            self._approved[key] = super().approved_artifacts(
                task_id=task_id, bundle_id=bundle_id, artifact_type=artifact_type, limit=limit
            )
        return self._approved[key]

    def artifacts_by_id(self, ids: Sequence[str]) -> list[Artifact]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._by_id]
        if missing:
            found = {a.id: a for a in super().artifacts_by_id(missing)}
            self._by_id.update((i, found.get(i)) for i in missing)
        return [a for i in ids if (a := self._by_id.get(i)) is not None]
