"""Templates and bundles: workflow definitions and their instantiation into dated tasks."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from operator import attrgetter
from typing import Any

from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts, parse_date
from dataops.domain.codec import camel
from dataops.domain.enums import EntityType
from dataops.domain.errors import ValidationFailed
from dataops.domain.models import Bundle, BundleLink, Task, TaskDefinition, Template
from dataops.domain.rules import bundle_errors, template_errors
from dataops.services import events, proofs
from dataops.services.common import (
    audit,
    check_version,
    create_audited,
    raise_if,
    refresh_refs,
    require,
    save,
)
from dataops.services.context import Workspace
from dataops.services.evidence import PageEvidence
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork

_TEMPLATE_FIELDS = frozenset(
    {
        "name",
        "description",
        "type",
        "default_assignee_id",
        "phases",
        "bundle_link_definitions",
        "task_definitions",
        "references",
        "tags",
    }
)
_BUNDLE_FIELDS = frozenset(
    {"title", "description", "anchor_date", "status", "stage", "references", "bundle_links", "tags"}
)
_LISTS = (
    "phases",
    "bundle_link_definitions",
    "task_definitions",
    "references",
    "tags",
    "bundle_links",
)


def _assign(
    record: Any, data: dict[str, Any], allowed: frozenset[str], required: tuple[str, ...]
) -> None:
    for name in allowed & data.keys():
        value = data[name]
        if value is None:
            if name in required:
                raise ValidationFailed.one(camel(name), "cannot be cleared")
            if name in _LISTS:
                value = []
        setattr(record, name, value)


def _check_assignees(uow: UnitOfWork, template: Template) -> None:
    """Every assignee a template names must be a user (404 naming the field)."""
    if template.default_assignee_id:
        require(uow.users, template.default_assignee_id, "user", "defaultAssigneeId")
    for index, definition in enumerate(template.task_definitions):
        if definition.assignee_id:
            require(
                uow.users, definition.assignee_id, "user", f"taskDefinitions[{index}].assigneeId"
            )


def create_template(ws: Workspace, actor: Actor, data: dict[str, Any]) -> Template:
    stamp = now_ts()
    template = Template(id=new_id("tpl"), name=data["name"], created_at=stamp, updated_at=stamp)
    _assign(template, data, _TEMPLATE_FIELDS, ("name",))
    raise_if(template_errors(template))
    templates = attrgetter("templates")
    return create_audited(ws, actor, EntityType.TEMPLATE, template, _check_assignees, templates)


def update_template(
    ws: Workspace,
    actor: Actor,
    template_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Template:
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.templates, template_id, "template")
        check_version(current, expected_version)
        updated = copy.deepcopy(current)
        _assign(updated, changes, _TEMPLATE_FIELDS, ("name",))
        raise_if(template_errors(updated))
        if {"default_assignee_id", "task_definitions"} & changes.keys():
            _check_assignees(uow, updated)
        if updated == current:
            return current
        save(uow.templates, updated)
        audit(uow, actor, EntityType.TEMPLATE, updated.id, "update", before=current, after=updated)
        uow.commit()
        return updated


def get_template(ws: Workspace, template_id: str) -> Template:
    with ws.store.unit_of_work() as uow:
        return require(uow.templates, template_id, "template")


def list_templates(ws: Workspace, page: PageRequest) -> Page[Template]:
    with ws.store.unit_of_work() as uow:
        return uow.templates.find(Filters(), page)


def instantiate_template(
    ws: Workspace, actor: Actor, template_id: str, title: str, anchor_date: str
) -> tuple[Bundle, list[Task]]:
    """One bundle and one task per definition, dated anchorDate + offsetDays, atomically."""
    anchor = _anchor(anchor_date)
    with ws.store.unit_of_work(write=True) as uow:
        template = require(uow.templates, template_id, "template")
        bundle, tasks = add_instance(uow, actor, template, title, anchor)
        uow.commit()
    return bundle, tasks


def preview_instance(
    ws: Workspace, template_id: str, title: str, anchor_date: str
) -> tuple[Bundle, list[Task]]:
    """What `instantiate_template` would create, built by the same code and checked by the
    same rules, with nothing written (the IDs are not reserved)."""
    anchor = _anchor(anchor_date)
    with ws.store.unit_of_work() as uow:
        template = require(uow.templates, template_id, "template")
        bundle, tasks = build_instance(template, title, anchor)
        evidence = PageEvidence(uow)
        for task in tasks:  # the stored verdict too, as `add_instance` stamps it
            proofs.stamp_open(uow, task, bundle, task_exists=False, source=evidence)
    return bundle, tasks


def _anchor(anchor_date: str) -> date:
    try:
        return parse_date(anchor_date)
    except ValueError as exc:
        raise ValidationFailed.one("anchorDate", "must be a real calendar date YYYY-MM-DD") from exc


def add_instance(
    uow: UnitOfWork,
    actor: Actor,
    template: Template,
    title: str,
    anchor: date,
    *,
    recurring_config_id: str | None = None,
    default_assignee_id: str | None = None,
) -> tuple[Bundle, list[Task]]:
    """Add to `uow` one bundle of `template` anchored on `anchor` and one task per
    definition, dated anchor + offsetDays, with their audit events. A recurring config's
    occurrence carries `recurring_config_id` (the bundle's `occurrenceDate` is then the
    anchor, unique per config: the store refuses a second bundle for it, `Conflict`), and
    its assignee stands in for the template's default."""
    bundle, tasks = build_instance(
        template,
        title,
        anchor,
        recurring_config_id=recurring_config_id,
        default_assignee_id=default_assignee_id,
    )
    uow.bundles.add(bundle)  # first: on DynamoDB its occurrence claim goes in the first chunk
    summary = f"from template {template.id}"
    if recurring_config_id:
        summary += f" (recurring config {recurring_config_id}, occurrence {bundle.anchor_date})"
    audit(uow, actor, EntityType.BUNDLE, bundle.id, "instantiate", after=bundle, summary=summary)
    events.bundle_created(uow, bundle)
    evidence = PageEvidence(uow)  # (the bundle's artifacts read once for all its tasks)
    for task in tasks:
        proofs.stamp_open(uow, task, bundle, task_exists=False, source=evidence)
        uow.tasks.add(task)
        audit(
            uow,
            actor,
            EntityType.TASK,
            task.id,
            "create",
            after=task,
            summary=f"from template {template.id} ({task.template_task_ref})",
        )
    return bundle, tasks


def build_instance(
    template: Template,
    title: str,
    anchor: date,
    *,
    recurring_config_id: str | None = None,
    default_assignee_id: str | None = None,
) -> tuple[Bundle, list[Task]]:
    """The bundle and tasks an instance of `template` consists of (checked, not stored)."""
    stamp = now_ts()
    anchor_date = anchor.isoformat()
    first_stage = next((p.stage or p.name for p in template.phases), None)
    bundle = Bundle(
        id=new_id("bdl"),
        title=title,
        created_at=stamp,
        updated_at=stamp,
        anchor_date=anchor_date,
        template_id=template.id,
        stage=first_stage,
        description=template.description,
        bundle_links=[BundleLink(name=d.name, url=d.url) for d in template.bundle_link_definitions],
        references=copy.deepcopy(template.references),
        tags=list(template.tags),
        recurring_config_id=recurring_config_id,
        occurrence_date=anchor_date if recurring_config_id else None,
    )
    raise_if(bundle_errors(bundle))
    assignee = default_assignee_id or template.default_assignee_id
    tasks = [
        _task_of(definition, bundle, anchor, stamp, assignee)
        for definition in template.task_definitions
    ]
    return bundle, tasks


def _task_of(
    definition: TaskDefinition, bundle: Bundle, anchor: date, stamp: str, assignee: str | None
) -> Task:
    """The task `definition` makes in `bundle`, dated anchor + offsetDays; `assignee` when
    the definition names none."""
    return Task(
        id=new_id("tsk"),
        description=definition.description,
        date=(anchor + timedelta(days=definition.offset_days)).isoformat(),
        created_at=stamp,
        updated_at=stamp,
        required_link_name=definition.required_link_name,
        requires_file=definition.requires_file,
        proof_requirement=copy.deepcopy(definition.proof_requirement),
        bundle_id=bundle.id,
        template_id=bundle.template_id,
        template_task_ref=definition.ref_id,
        assignee_id=definition.assignee_id or assignee,
        stage_on_complete=definition.stage_on_complete,
        instructions_url=definition.instructions_url,
        instruction_doc_id=definition.instruction_doc_id,
        instruction_step_id=definition.instruction_step_id,
        phase=definition.phase,
        systems=list(definition.systems),
        validation=copy.deepcopy(definition.validation),
        tags=list(definition.tags),
    )


def create_bundle(ws: Workspace, actor: Actor, data: dict[str, Any]) -> Bundle:
    stamp = now_ts()
    bundle = Bundle(id=new_id("bdl"), title=data["title"], created_at=stamp, updated_at=stamp)
    _assign(bundle, data, _BUNDLE_FIELDS | {"template_id"}, ("title", "status"))
    raise_if(bundle_errors(bundle))
    with ws.store.unit_of_work(write=True) as uow:
        if bundle.template_id:
            require(uow.templates, bundle.template_id, "template", "templateId")
        uow.bundles.add(bundle)
        audit(uow, actor, EntityType.BUNDLE, bundle.id, "create", after=bundle)
        events.bundle_created(uow, bundle)
        uow.commit()
    return bundle


def update_bundle(
    ws: Workspace,
    actor: Actor,
    bundle_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Bundle:
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.bundles, bundle_id, "bundle")
        check_version(current, expected_version)
        updated = copy.deepcopy(current)
        _assign(updated, changes, _BUNDLE_FIELDS, ("title", "status"))
        raise_if(bundle_errors(updated))
        if updated == current:
            refresh_refs(uow, [current])
            return current
        save(uow.bundles, updated)
        audit(uow, actor, EntityType.BUNDLE, updated.id, "update", before=current, after=updated)
        uow.commit()
        refresh_refs(uow, [updated])
        return updated


def get_bundle(ws: Workspace, bundle_id: str) -> Bundle:
    with ws.store.unit_of_work() as uow:
        bundle = require(uow.bundles, bundle_id, "bundle")
        refresh_refs(uow, [bundle])
        return bundle


def list_bundles(ws: Workspace, filters: dict[str, str | None], page: PageRequest) -> Page[Bundle]:
    with ws.store.unit_of_work() as uow:
        result = uow.bundles.find(Filters(filters), page)
        refresh_refs(uow, result.items)
        return result
