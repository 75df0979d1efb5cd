"""The export's fast path (`portable/writing/encode.py`) writes exactly the lines of the defining
path (`codec.from_dict` → `format.to_record` → `format.canonical_line`): for every code
point and integer orjson and `canonical_line` agree on, for the rich workspace, and for
stored rows mutated at random (missing, unknown, null and wrongly typed fields, invalid
enum values, floats, big integers, lone surrogates, nested objects with extra keys...).
Also: the export worker process changes nothing, and the streamed archive is the tar
that `tarfile` writes."""

from __future__ import annotations

import copy
import gzip
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataops.domain import enums
from dataops.domain.codec import from_dict, to_dict
from dataops.domain.models import Artifact
from dataops.portable.format import EXPORTED, MANIFEST, SPECS, canonical_line, to_record
from dataops.portable.writing import export_worker
from dataops.portable.writing.encode import EntityEncoder
from dataops.portable.writing.export import present, write_export
from dataops.store.port import StoredRow
from tests.portable.conftest import INFO, Golden
from tests.portable.test_export import _fixed_records

SORT = orjson.OPT_SORT_KEYS


def _stored(value: Any) -> bytes:
    """A runtime dict as both stores write it (lone surrogates, which neither can hold,
    as escapes)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


# ------------------------------------------------------------------ orjson vs json


def test_orjson_writes_every_code_point_as_canonical_line() -> None:
    step = 2048
    for start in range(0, 0x110000, step):
        text = "".join(chr(c) for c in range(start, start + step) if not 0xD800 <= c <= 0xDFFF)
        record = {"value": text, "list": [text[:7], {text[-3:]: text[:1]}]}
        assert orjson.dumps(record, option=SORT) == canonical_line(record).encode(), hex(start)


def test_orjson_sorts_keys_as_canonical_line() -> None:
    points = [0, 0x1F, 0x20, 0x5F, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000]
    points += [0x10FFFF, *range(0x41, 0x7B)]
    keys = ["", *(chr(p) for p in points), "a_b", "aB", "a", "ab", "a\x00", "é", "e\u0301"]
    record = {key: {k: i for i, k in enumerate(reversed(keys))} for key in keys}
    assert orjson.dumps(record, option=SORT) == canonical_line(record).encode()


@pytest.mark.parametrize(
    "value", [0, 1, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, True, False, None]
)
def test_orjson_writes_64_bit_integers_and_constants_as_canonical_line(value: Any) -> None:
    assert orjson.dumps({"v": [value]}, option=SORT) == canonical_line({"v": [value]}).encode()


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**30])
def test_orjson_refuses_bigger_integers(value: int) -> None:
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(value)


@pytest.mark.parametrize("value", [1e-05, 1e-07, float("nan"), float("inf")])
def test_floats_where_orjson_differs_are_why_rows_are_checked(value: float) -> None:
    assert orjson.dumps(value) != json.dumps(value).encode()
    artifact = to_dict(_fixed("artifacts"))
    artifact["metadata"] = {"small": value, "big": 2**70, "half": 0.5}
    assert _encoded("artifacts", _stored(artifact), 4) == _defined(
        "artifacts", _stored(artifact), 4
    )


# ------------------------------------------------------------------ the defining path


def _fixed(entity: str) -> Any:
    return next(record for name, record in _fixed_records() if name == entity)


_ARTIFACTS = [
    to_dict(_fixed("artifacts")),
    {**to_dict(_fixed("artifacts")), "id": "art_2", "title": "Ünïcode — ✓", "status": "approved"},
]


def _stored_many(artifacts: list[bytes], ids: list[str]) -> list[bytes]:
    """The artifact rows a store returns for `ids` (it matches its key, the row's ID)."""
    return [raw for raw in artifacts if json.loads(raw).get("id") in ids]


def _refs_of(artifacts: list[bytes]) -> Callable[[list[str]], dict[str, Any]]:
    encoder = EntityEncoder(SPECS["artifacts"])

    def refs(ids: list[str]) -> dict[str, Any]:
        found = (encoder.ref(raw) for raw in _stored_many(artifacts, ids))
        return {ref[0]["artifactId"]: ref for ref in found}

    return refs


class _ArtifactRefused(Exception):
    """The defining path cannot decode an artifact a ref points to."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


def _defined(
    entity: str, raw: bytes, version: int | None, artifacts: list[bytes] | None = None
) -> bytes:
    """The line of the defining path: what the store decodes, `to_record`, the refs
    refreshed from the artifacts as `services.common.refresh_refs` does on entities."""
    spec = SPECS[entity]
    assert spec.model is not None
    record = from_dict(spec.model, json.loads(raw))
    if version is not None:
        record.version = version
    if getattr(record, "artifact_refs", None):  # (a null list: nothing to refresh)
        ids = list(dict.fromkeys(ref.artifact_id for ref in record.artifact_refs))
        live = {}
        if ids:
            for found in _stored_many(artifacts or [_stored(a) for a in _ARTIFACTS], ids):
                try:
                    artifact = from_dict(Artifact, json.loads(found))
                except (TypeError, ValueError) as exc:
                    raise _ArtifactRefused(found) from exc
                live[artifact.id] = artifact
        record.artifact_refs = [
            live[ref.artifact_id].ref() if ref.artifact_id in live else ref
            for ref in record.artifact_refs
        ]
    exported = to_record(spec, record)
    exported[spec.id_field]  # the export sorts by it: a KeyError without one
    return canonical_line(exported).encode()


def _encoded(
    entity: str, raw: bytes, version: int | None, artifacts: list[bytes] | None = None
) -> bytes:
    rows: list[StoredRow] = [("key", raw, version)]
    refs = _refs_of(artifacts or [_stored(a) for a in _ARTIFACTS])
    ids, lines = EntityEncoder(SPECS[entity]).lines(rows, refs)
    assert len(ids) == len(lines) == 1
    return lines[0]


def _same_as_defined(
    entity: str, raw: bytes, version: int | None, artifacts: list[bytes] | None = None
) -> None:
    try:
        expected = _defined(entity, raw, version, artifacts)
    except _ArtifactRefused as refused:
        # The export failed on reading it for the refs; now the ref takes only its five
        # fields, and the export fails on that artifact's own line.
        with pytest.raises((TypeError, ValueError)):
            _encoded("artifacts", refused.raw, 1)
        return
    except (TypeError, ValueError, KeyError, AttributeError):
        # The defining path refuses the row (what `from_dict` cannot build, no ID...): so
        # must the fast one, though not always with the same error (a null ref: a
        # TypeError, not an AttributeError).
        with pytest.raises((TypeError, ValueError, KeyError, AttributeError)):
            _encoded(entity, raw, version, artifacts)
        return
    assert _encoded(entity, raw, version, artifacts) == expected


@pytest.mark.parametrize("entity", EXPORTED)
def test_fixed_records_take_the_fast_path_exactly(entity: str) -> None:
    raw = _stored(to_dict(_fixed(entity)))
    version = 7 if "version" in to_dict(_fixed(entity)) else None
    _same_as_defined(entity, raw, version)
    encoder = EntityEncoder(SPECS[entity])
    assert encoder._valid_values(orjson.loads(raw)) is not None  # (not the fallback)


def test_rich_workspace_lines_are_the_defining_paths(golden: Golden) -> None:
    """Every line the export wrote equals `canonical_line(present(...))` of the
    entities the repositories return (the export of before the fast path)."""
    with golden.ws.store.unit_of_work() as uow:
        for name in EXPORTED:
            repo = getattr(uow, name)
            written = (golden.directory / f"{name}.jsonl").read_bytes().splitlines()
            ids = [json.loads(line)[SPECS[name].id_field] for line in written]
            entities = repo.get_many(ids)
            expected = [canonical_line(r).encode() for r in present(uow, SPECS[name], entities)]
            assert written == expected, name


# ------------------------------------------------------------------ stored rows at random

_ENUM_VALUES = [m.value for cls in vars(enums).values() if isinstance(cls, type) for m in cls]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**66),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "a\udfffb", "é✓😀", "\x00\x1f\u2028", ""]),
    st.sampled_from(_ENUM_VALUES),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _containers(value: Any) -> list[Any]:
    """Every dict and list inside `value`, itself included."""
    found = []
    if isinstance(value, dict | list):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            found += _containers(item)
    return found


@st.composite
def _mutated(draw: st.DrawFn, entity: str) -> dict[str, Any]:
    record = copy.deepcopy(to_dict(_fixed(entity)))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        container = draw(st.sampled_from(_containers(record)))
        if isinstance(container, list):
            if container and draw(st.booleans()):
                container[draw(st.integers(0, len(container) - 1))] = draw(_JSON)
            else:
                container.append(draw(_JSON))
            continue
        keys = sorted(container)
        key = draw(st.sampled_from(keys) | st.text(max_size=6)) if keys else draw(st.text())
        action = draw(st.sampled_from(["set", "set", "delete", "null"]))
        if action == "delete":
            container.pop(key, None)
        else:
            container[key] = None if action == "null" else draw(_JSON)
    return record


@pytest.mark.parametrize("entity", EXPORTED)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_rows_give_the_defining_paths_line(entity: str, data: st.DataObject) -> None:
    record = data.draw(_mutated(entity))
    version = data.draw(st.none() | st.integers(min_value=1, max_value=2**65))
    if "version" not in to_dict(_fixed(entity)):
        version = None  # unversioned: the stores give no version
    artifacts = [_stored(a) for a in _ARTIFACTS]
    if data.draw(st.booleans()):
        artifacts[1] = _stored(data.draw(_mutated("artifacts")))
    _same_as_defined(entity, _stored(record), version, artifacts)


def test_a_ref_to_a_missing_artifact_keeps_the_stored_ref() -> None:
    task = to_dict(_fixed("tasks"))
    stale = {"artifactId": "art_gone", "type": "report", "title": "t", "storageUri": None}
    task["artifactRefs"] = [
        {**stale, "status": None},
        to_dict(_fixed("bundles"))["artifactRefs"][0],
    ]
    _same_as_defined("tasks", _stored(task), 3)
    assert b"art_gone" in _encoded("tasks", _stored(task), 3)


# ------------------------------------------------------------------ the export worker


def _entity_files(export: Path) -> dict[str, bytes]:
    """The entity files of a directory or an archive export."""
    if export.is_dir():
        return {p.name: p.read_bytes() for p in sorted(export.iterdir()) if p.name != MANIFEST}
    with tarfile.open(export) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.name != MANIFEST
        }


@pytest.mark.parametrize("page_size", [1, 3, 500])
@pytest.mark.parametrize("name", ["export", "export.tar.gz"])
def test_the_export_worker_changes_nothing(
    golden: Golden, tmp_path: Path, page_size: int, name: str
) -> None:
    (tmp_path / "alone").mkdir()
    (tmp_path / "shared").mkdir()
    alone = write_export(golden.ws.store, tmp_path / "alone" / name, INFO, parallel=False)
    shared = write_export(
        golden.ws.store, tmp_path / "shared" / name, INFO, parallel=True, page_size=page_size
    )
    assert alone.manifest["checksums"] == shared.manifest["checksums"]
    assert alone.manifest["entity_counts"] == shared.manifest["entity_counts"]
    assert _entity_files(alone.path) == _entity_files(shared.path)
    assert _entity_files(shared.path) == _entity_files(golden.directory)


def test_batches_the_byte_search_cannot_read_are_encoded_here(
    golden: Golden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An artifact ID with escaped characters is not found by the byte search: such a
    batch is encoded by the export itself, the others by the worker."""
    sent: list[str] = []
    real_encode = export_worker.ExportWorker.encode

    def encode(worker: Any, entity: str, rows: Any, artifacts: Any) -> None:
        sent.append(entity)
        real_encode(worker, entity, rows, artifacts)

    monkeypatch.setattr(export_worker.ExportWorker, "encode", encode)
    monkeypatch.setattr(export_worker, "ENCODES_AHEAD", 10**6)  # send whatever it can
    raw = b'{"artifactRefs":[{"artifactId":"a\\"b"}],"x":{"artifactId":"c"}}'
    assert export_worker.artifacts_for(None, [("t", raw, 1)]) is None  # type: ignore[arg-type]
    shared = write_export(golden.ws.store, tmp_path / "shared", INFO, parallel=True, page_size=2)
    assert {"tasks", "bundles", "artifacts"} <= set(sent)
    assert _entity_files(shared.path) == _entity_files(golden.directory)


@pytest.mark.parametrize("name", ["export", "export.tar.gz"])
def test_a_worker_that_dies_fails_the_export_and_leaves_nothing(
    golden: Golden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    real_encode = export_worker.ExportWorker.encode

    def encode(worker: Any, entity: str, rows: Any, artifacts: Any) -> None:
        if entity == "notifications":
            worker._process.kill()
            worker._process.join()
        real_encode(worker, entity, rows, artifacts)

    monkeypatch.setattr(export_worker.ExportWorker, "encode", encode)
    with pytest.raises(export_worker.WorkerFailed):
        write_export(golden.ws.store, tmp_path / name, INFO, parallel=True, page_size=2)
    assert list(tmp_path.iterdir()) == []


def test_no_worker_where_forking_is_unsafe() -> None:
    import threading

    started = threading.Event()
    done = threading.Event()
    thread = threading.Thread(target=lambda: (started.set(), done.wait(5)))
    thread.start()
    started.wait(5)
    try:
        assert not export_worker.worker_possible()
    finally:
        done.set()
        thread.join()


# ------------------------------------------------------------------ the streamed archive


def test_archive_is_the_tar_tarfile_writes(golden: Golden) -> None:
    """Decompressed, the multi-member gzip is byte for byte the pax tar `tarfile`
    writes for the same files, mtimes and modes."""
    stream = gzip.decompress(golden.archive.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        members = tar.getmembers()
        contents = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    assert [m.name for m in members] == [f"{n}.jsonl" for n in EXPORTED] + [MANIFEST]
    for name in EXPORTED:
        assert contents[f"{name}.jsonl"] == (golden.directory / f"{name}.jsonl").read_bytes()
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.size, info.mtime, info.mode = member.size, member.mtime, 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(contents[member.name]))
    assert stream == expected.getvalue()


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar command")
def test_archive_reads_with_the_tar_command(golden: Golden, tmp_path: Path) -> None:
    subprocess.run(["tar", "-xzf", str(golden.archive), "-C", str(tmp_path)], check=True)
    for name in EXPORTED:
        file_name = f"{name}.jsonl"
        assert (tmp_path / file_name).read_bytes() == (golden.directory / file_name).read_bytes()
