"""The proof rule's evidence, read from the metadata store through indexed lookups."""

from __future__ import annotations

from collections.abc import Sequence

from dataops.domain.enums import ArtifactStatus, ArtifactType
from dataops.domain.models import Artifact, Bundle, Task
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
    """The evidence of pages of tasks, read once for them: every artifact the tasks and
    their bundles reference in one `get_many` a page (one SQLite query, one BatchGetItem),
    each bundle's approved artifacts and each task's first file once however many of the
    page's tasks ask (a bundle page's tasks all share their bundle's)."""

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        self._by_id: dict[str, Artifact] = {}
        self._files: dict[str, str | None] = {}
        self._approved: dict[tuple[str | None, str | None, str | None, int], list[Artifact]] = {}

    def prefetch(self, tasks: Sequence[Task], bundles: Sequence[Bundle]) -> None:
        """Read every artifact `tasks` and `bundles` reference, in one `get_many`."""
        ref_ids = [ref.artifact_id for task in tasks for ref in task.artifact_refs]
        ref_ids += [ref.artifact_id for bundle in bundles for ref in bundle.artifact_refs]
        self.artifacts_by_id(list(dict.fromkeys(ref_ids)))

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
        missing = [i for i in ids if i not in self._by_id]
        if missing:
            self._by_id.update((a.id, a) for a in super().artifacts_by_id(missing))
        return [self._by_id[i] for i in ids if i in self._by_id]
