"""Archives built to exhaust `validate-export` and `import` (issue 15 item 7): each is
refused by a limit with a message naming it, and what the validator holds stays bounded —
problems kept, problems counted, the longest line read, tar headers, members."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from dataops.portable import archive as archive_module
from dataops.portable.checking.index import ScratchIndex
from dataops.portable.checking.scan import Chunk, scan_chunk
from dataops.portable.checking.validate import MAX_MANIFEST_BYTES, validate_export
from dataops.portable.format import MANIFEST
from dataops.portable.importing.importer import ImportRefused, apply_import, plan_import
from dataops.portable.lines import MAX_LINE_BYTES, MAX_LINE_VALUES, read_lines, too_many_values
from dataops.portable.report import MAX_PROBLEMS, MAX_PROBLEMS_KEPT, Report
from dataops.services.context import Workspace
from tests.portable.conftest import Golden
from tests.portable.test_cli import run

Members = list[tuple[tarfile.TarInfo, bytes | None]]


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _export_members(golden: Golden, tasks: bytes | None = None) -> Members:
    """The golden export's files, `tasks.jsonl` replaced by `tasks` (the manifest's count
    and checksum follow it, so only what `tasks` holds is wrong)."""
    manifest = json.loads((golden.directory / MANIFEST).read_bytes())
    members: Members = []
    for path in sorted(golden.directory.iterdir()):
        if path.name == MANIFEST:
            continue
        data = path.read_bytes()
        if path.name == "tasks.jsonl" and tasks is not None:
            data = tasks
            manifest["entity_counts"]["tasks"] = tasks.count(b"\n")
            manifest["checksums"]["tasks.jsonl"] = "sha256:" + hashlib.sha256(data).hexdigest()
        members.append(_file(path.name, data))
    return [_file(MANIFEST, json.dumps(manifest).encode()), *members]


def _archive(path: Path, members: Members, fmt: int = tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w:gz", format=fmt, compresslevel=9) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _archive_problems(report: Report) -> list[str]:
    return [p.message for p in report.problems if p.entity == "archive"]


# ------------------------------------------------------------------ problems kept and counted


def test_braces_archive_stops_at_the_problem_limit(golden: Golden, tmp_path: Path) -> None:
    """A small archive of `{}` lines (each missing every field): the report keeps
    MAX_PROBLEMS_KEPT problems, counts up to MAX_PROBLEMS, and stops there."""
    path = _archive(tmp_path / "braces.tar.gz", _export_members(golden, b"{}\n" * 200_000))
    assert path.stat().st_size < 20_000
    for workers in (1, 2):
        report = validate_export(path, workers=workers, chunk_bytes=64 << 10)
        assert not report.valid
        assert report.stopped
        assert len(report.problems) == MAX_PROBLEMS_KEPT
        assert report.problem_count == MAX_PROBLEMS
        assert report.more_problems == MAX_PROBLEMS - MAX_PROBLEMS_KEPT
        assert sum(len(lines) for lines in report.invalid_lines.values()) <= MAX_PROBLEMS
        first = report.problems[0]
        assert (first.entity, first.line, first.field) == ("tasks", 1, "task_id")
        assert report.lines()[-2:] == [
            f"... and {MAX_PROBLEMS - MAX_PROBLEMS_KEPT} more problems",
            f"validation stopped after {MAX_PROBLEMS:,} problems: the rest of the export "
            "was not checked",
        ]
        data = report.as_json()
        assert (data["problem_count"], data["more_problems"], data["stopped"]) == (
            MAX_PROBLEMS,
            MAX_PROBLEMS - MAX_PROBLEMS_KEPT,
            True,
        )
        assert len(data["problems"]) == MAX_PROBLEMS_KEPT


def test_a_chunk_keeps_at_most_its_budget_of_problems(tmp_path: Path) -> None:
    """What a worker process sends back for one chunk is bounded too."""
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"{}\n" * 50_000)
    index = ScratchIndex(tmp_path)
    try:
        result = scan_chunk(Chunk("tasks", path), index, budget=1_234)
    finally:
        index.close()
    assert result.stopped
    assert len(result.problems) == 1_234
    assert result.records < 50_000


def test_cli_reports_the_stop_in_text_and_json(
    golden: Golden,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _archive(tmp_path / "braces.tar.gz", _export_members(golden, b"{}\n" * 50_000))
    code, out, _ = run(["validate-export", str(path)], tmp_path, capsys, monkeypatch)
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == "tasks line 1 field task_id: is required"
    assert len(lines) == MAX_PROBLEMS_KEPT + 3
    assert lines[-3] == f"... and {MAX_PROBLEMS - MAX_PROBLEMS_KEPT} more problems"
    assert lines[-1].startswith(f"NOT valid: {MAX_PROBLEMS} problems or more")
    code, out, _ = run(["validate-export", str(path), "--json"], tmp_path, capsys, monkeypatch)
    data = json.loads(out)
    assert code == 1
    assert (data["valid"], data["stopped"], len(data["problems"])) == (
        False,
        True,
        MAX_PROBLEMS_KEPT,
    )


def test_import_and_dry_run_refuse_a_stopped_validation(
    golden: Golden,
    tmp_path: Path,
    empty_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _archive(tmp_path / "braces.tar.gz", _export_members(golden, b"{}\n" * 50_000))
    for attempt in (plan_import, apply_import):
        with pytest.raises(ImportRefused, match="validation stopped after 10000 problems"):
            attempt(path, empty_workspace.store)
    assert empty_workspace.store.is_empty()
    for args in (["import", str(path), "--dry-run"], ["import", str(path)]):
        code, _, err = run(args, tmp_path / "target", capsys, monkeypatch)
        assert code == 1
        assert "validation stopped" in err


# ------------------------------------------------------------------ lines


def test_a_line_beyond_the_limit_is_reported_and_the_rest_checked(
    golden: Golden, tmp_path: Path
) -> None:
    long = b'{"description": "' + b"x" * MAX_LINE_BYTES + b'"}\n'
    tasks = (golden.directory / "tasks.jsonl").read_bytes()
    path = _archive(tmp_path / "long.tar.gz", _export_members(golden, long + tasks + b"[]\n"))
    report = validate_export(path)
    last = tasks.count(b"\n") + 2
    assert [p.text() for p in report.problems] == [
        "tasks line 1: is longer than 16 MiB (the limit of a line); not read",
        f"tasks line {last}: must be a JSON object",
    ]


def test_an_over_long_line_is_refused_by_import(
    golden: Golden, tmp_path: Path, empty_workspace: Workspace
) -> None:
    long = b"[" + b"0," * (MAX_LINE_BYTES // 2) + b"0]\n"
    tasks = (golden.directory / "tasks.jsonl").read_bytes()
    path = _archive(tmp_path / "long.tar.gz", _export_members(golden, tasks + long))
    plan = plan_import(path, empty_workspace.store)
    assert plan.entities["tasks"].invalid == 1
    with pytest.raises(ImportRefused, match="not valid"):
        apply_import(path, empty_workspace.store)
    assert empty_workspace.store.is_empty()


@pytest.mark.parametrize("max_line", [1, 7, 1000, (1 << 20) - 1, 1 << 20, 3 << 20])
def test_read_lines_never_returns_more_than_the_limit(max_line: int) -> None:
    lines = [b"", b"a", b"{}", b"x" * 999, b"y" * 1001, b"z" * (5 << 19), b"w" * (3 << 20), b"q"]
    for end in (b"\n", b""):
        content = b"\n".join(lines) + end
        got = list(read_lines(io.BytesIO(content), max_line=max_line))
        assert [number for number, *_ in got] == list(range(1, len(lines) + 1))
        expected = [line if len(line) <= max_line else None for line in lines]
        assert [raw for _, raw, _, _ in got] == expected
        assert all(raw is None or len(raw) <= max_line for _, raw, _, _ in got)


def test_a_line_of_too_many_values_is_not_parsed(golden: Golden, tmp_path: Path) -> None:
    """`[{},{},…]` under the length limit would parse into millions of objects."""
    wide = b"[" + b"{}," * MAX_LINE_VALUES + b"{}]\n"
    tasks = (golden.directory / "tasks.jsonl").read_bytes()
    report = validate_export(
        _archive(tmp_path / "wide.tar.gz", _export_members(golden, wide + tasks))
    )
    assert [p.text() for p in report.problems] == [
        "tasks line 1: holds more than 1,000,000 JSON values (the limit of a line); not read"
    ]


def test_values_are_counted_outside_strings() -> None:
    prose = json.dumps({"description": 'a, b: [c] {d} \\" e,' * 200_000}).encode()
    assert len(prose) > MAX_LINE_VALUES
    assert not too_many_values(prose)  # over a million commas, all in one string
    keys = json.dumps({f"k{n}": n for n in range(MAX_LINE_VALUES // 2 + 1)}).encode()
    assert too_many_values(keys)  # keys count too
    assert not too_many_values(b"[" + b"0," * (MAX_LINE_VALUES - 1) + b"0]")
    assert too_many_values(b"[" + b"0," * MAX_LINE_VALUES + b"0]")
    unterminated = b'"' + b'\\"' * MAX_LINE_VALUES + b"," * MAX_LINE_VALUES
    assert not too_many_values(unterminated)  # the string runs to the end


# ------------------------------------------------------------------ archive limits


def test_compression_bomb_is_refused_past_the_ratio_floor(
    golden: Golden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "RATIO_FLOOR", 1 << 20)
    path = _archive(tmp_path / "bomb.tar.gz", _export_members(golden, b"\0" * (8 << 20)))
    report = validate_export(path)
    assert _archive_problems(report) == [
        "the archive decompresses to more than 200 times its compressed size past its "
        "first 1 MiB (the limit of an export archive: a compression bomb?); not read further"
    ]
    assert not (tmp_path / "tasks.jsonl").exists()


def test_a_compressible_export_is_not_a_bomb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines that differ only by their IDs compress far better than a real export, yet
    stay well under the ratio: past the floor, only bombs are refused."""
    monkeypatch.setattr(archive_module, "RATIO_FLOOR", 1 << 20)
    line = '{"user_id": "usr_%08d", "email": "user%d@example.com", "role": "operator"}\n'
    body = "".join(line % (n, n) for n in range(100_000)).encode()
    path = _archive(tmp_path / "users.tar.gz", [_file("users.jsonl", body)])
    assert len(body) > 8 * path.stat().st_size > 8 << 20 >> 4
    assert _archive_problems(validate_export(path)) == []


def test_total_decompressed_size_is_capped(
    golden: Golden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "MAX_ARCHIVE_BYTES", 1 << 20)
    noise = hashlib.shake_256(b"seed").digest(2 << 20)  # incompressible: not the ratio
    members = [*_export_members(golden), _file("zzz.jsonl", noise)]
    report = validate_export(_archive(tmp_path / "big.tar.gz", members))
    assert _archive_problems(report) == [
        "the archive decompresses to more than 1 MiB (the limit of an export archive); "
        "not read further"
    ]


def test_too_many_members(golden: Golden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_module, "MAX_MEMBERS", 20)
    junk = [_file(f"junk-{n}.txt", b"x") for n in range(30)]
    report = validate_export(_archive(tmp_path / "many.tar.gz", [*_export_members(golden), *junk]))
    problems = _archive_problems(report)
    assert problems[-1] == (
        "the archive has more than 20 members (the limit of an export archive); not read further"
    )
    assert len(problems) == 20 + 1 - len(_export_members(golden))


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_huge_member_name_header_is_refused(golden: Golden, tmp_path: Path, fmt: int) -> None:
    """A pax or GNU long-name header is read whole by tar: 2 MiB of name is refused."""
    name = "a" * (2 << 20)
    members = [_file(name, b"{}"), *_export_members(golden)]
    report = validate_export(_archive(tmp_path / "name.tar.gz", members, fmt))
    problems = _archive_problems(report)
    assert len(problems) == 1
    assert problems[0].startswith("a tar header of ")
    assert problems[0].endswith(
        " bytes exceeds 1 MiB (the limit of an export archive); not read further"
    )


def test_long_member_name_is_shortened_in_the_report(golden: Golden, tmp_path: Path) -> None:
    members = [_file("b" * 5000 + ".jsonl.bin", b"{}"), *_export_members(golden)]
    report = validate_export(_archive(tmp_path / "name.tar.gz", members))
    assert _archive_problems(report) == [
        f"member {'b' * 100!r}… (5,010 characters) (a regular file) is not an export file; skipped"
    ]


def test_sparse_members_are_refused(golden: Golden, tmp_path: Path) -> None:
    """GNU sparse members, and pax sparse 1.0 (its map is read whole from the data)."""
    gnu = tarfile.TarInfo("tasks.jsonl")
    gnu.type = tarfile.GNUTYPE_SPARSE
    pax = tarfile.TarInfo("users.jsonl")
    pax.size = 512
    pax.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    sparse_map = b"99999999\n" + b"0\n" * 200
    for name, member, fmt in (
        ("gnu", (gnu, None), tarfile.GNU_FORMAT),
        ("pax", (pax, sparse_map.ljust(512, b"0")), tarfile.PAX_FORMAT),
    ):
        path = _archive(tmp_path / f"{name}.tar.gz", [*_export_members(golden), member], fmt)
        assert _archive_problems(validate_export(path)) == [
            "a member is a sparse file (an export holds plain files); not read further"
        ], name


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


@pytest.mark.parametrize(
    "member",
    [
        _special("users.jsonl", tarfile.SYMTYPE, "/etc/passwd"),
        _special("users.jsonl", tarfile.LNKTYPE, "tasks.jsonl"),
        _special("users.jsonl", tarfile.CHRTYPE),
        _special("users.jsonl", tarfile.BLKTYPE),
        _special("users.jsonl", tarfile.FIFOTYPE),
        _special("users.jsonl", tarfile.DIRTYPE),
        _file("nested.tar.gz", gzip.compress(b"\0" * 1024)),
        _file("sub/users.jsonl", b"{}\n"),
    ],
    ids=["symlink", "hardlink", "chardev", "blockdev", "fifo", "dir", "nested", "subdir"],
)
def test_members_that_are_not_export_files_are_skipped(
    golden: Golden, tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None]
) -> None:
    """Placed first, under an export file's name or another: skipped, never extracted
    (the real file that follows is read); nothing lands outside the scratch directory."""
    path = _archive(tmp_path / "odd.tar.gz", [member, *_export_members(golden)])
    report = validate_export(path)
    problems = _archive_problems(report)
    assert len(problems) == 1, report.lines()
    assert problems[0].endswith("is not an export file; skipped")
    assert report.problems == [p for p in report.problems if p.entity == "archive"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.tar.gz"]


def test_data_after_the_archive_end_is_refused(golden: Golden, tmp_path: Path) -> None:
    good = golden.archive.read_bytes()
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(good + b"this is not gzip")
    hidden = tmp_path / "hidden.tar.gz"  # a second tar after the first one's end
    hidden.write_bytes(good + gzip.compress(b"\0" * 1024 + b"hidden data" + b"\0" * 512))
    for path in (garbage, hidden):
        assert _archive_problems(validate_export(path)) == [
            "the archive holds data after its end; not read"
        ], path.name
    padded = tmp_path / "padded.tar.gz"  # zeros after the gzip stream, as gzip allows
    padded.write_bytes(good + b"\0" * 4096)
    assert validate_export(padded).valid


def test_manifest_beyond_its_limit_is_not_read(golden: Golden, tmp_path: Path) -> None:
    members = _export_members(golden)
    manifest = members[0][1]
    assert manifest is not None
    members[0] = _file(MANIFEST, manifest[:-1] + b" " * MAX_MANIFEST_BYTES + b"}")
    report = validate_export(_archive(tmp_path / "manifest.tar.gz", members))
    assert report.problems[0].text() == (
        "manifest: manifest.json is larger than 1 MiB (its limit); not read"
    )
