"""`dataops export`, `dataops validate-export`, `dataops import`: exit codes, reports,
one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dataops.cli import main
from dataops.portable.format import EXPORTED
from tests.portable.conftest import Golden
from tests.portable.support import ExportDir


def run(
    args: list[str], home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setenv("DATAOPS_ENV", "test")
    monkeypatch.setenv("DATAOPS_HOME", str(home))
    monkeypatch.delenv("DATAOPS_SQLITE_PATH", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_export_validate_import(
    golden: Golden,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = golden.ws.settings.home
    target = tmp_path / "target-home"
    archive = tmp_path / "out.tar.gz"
    code, out, err = run(["export", str(archive)], source, capsys, monkeypatch)
    assert (code, out.strip()) == (0, str(archive))
    assert err.startswith("exported ")
    assert "tasks" in err

    code, out, _ = run(["validate-export", str(archive)], source, capsys, monkeypatch)
    assert code == 0
    assert out.startswith("valid: ")
    code, out, _ = run(["validate-export", str(archive), "--json"], source, capsys, monkeypatch)
    report = json.loads(out)
    assert code == 0
    assert report["valid"] is True
    assert report["problems"] == []

    code, out, err = run(["import", str(archive), "--dry-run"], target, capsys, monkeypatch)
    assert code == 0
    assert "nothing was written" in err
    assert out.splitlines()[0].split() == ["entity", "insert", "update", "skip", "invalid"]
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1 : 1 + len(EXPORTED)]}
    assert list(rows) == list(EXPORTED)
    assert rows["users"] == ["4", "0", "0", "0"]  # admin, operator, viewer, demo assistant

    code, out, _ = run(["export", str(tmp_path / "empty")], target, capsys, monkeypatch)
    assert code == 0  # the dry run wrote nothing: the target exports empty files
    assert all((tmp_path / "empty" / f"{name}.jsonl").read_bytes() == b"" for name in EXPORTED)

    code, out, err = run(["import", str(archive)], target, capsys, monkeypatch)
    assert code == 0
    assert "dataops users passwd" in err
    code, out, err = run(["import", str(archive)], target, capsys, monkeypatch)
    assert code == 1
    assert err.count("\n") == 1
    assert "already holds records" in err
    code, out, err = run(["import", str(archive), "--allow-existing"], target, capsys, monkeypatch)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1 : 1 + len(EXPORTED)]}
    assert code == 0
    assert rows["tasks"][:2] == ["0", "0"]
    assert int(rows["tasks"][2]) > 0


def test_invalid_export_exit_1_with_a_readable_report(
    golden: Golden,
    tampered: ExportDir,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = tampered.edit("tasks", golden.ids.waiting_task, bundle_id="gone")
    code, out, _ = run(["validate-export", str(tampered.root)], tmp_path, capsys, monkeypatch)
    assert code == 1
    assert out.splitlines() == [
        f"tasks line {line} field bundle_id: references missing bundles record 'gone'",
        out.splitlines()[-1],
    ]
    assert out.splitlines()[-1].startswith("NOT valid: 1 problems")
    code, out, _ = run(
        ["validate-export", str(tampered.root), "--json"], tmp_path, capsys, monkeypatch
    )
    report = json.loads(out)
    assert code == 1
    assert report["valid"] is False
    assert report["problems"][0]["line"] == line
    assert report["problems"][0]["field"] == "bundle_id"
    code, out, _err = run(
        ["import", str(tampered.root), "--dry-run"], tmp_path, capsys, monkeypatch
    )
    assert code == 1
    assert "field bundle_id" in out


def test_errors_are_one_line(
    golden: Golden,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = golden.ws.settings.home
    for args in (
        ["validate-export", str(tmp_path / "nope")],
        ["import", str(tmp_path / "nope"), "--dry-run"],
        ["export", str(golden.directory)],
        ["export", str(tmp_path / "no" / "such" / "dir" / "out")],
    ):
        code, _out, err = run(args, home, capsys, monkeypatch)
        assert code == 1, args
        assert err.count("\n") == 1, (args, err)
        assert err.startswith("dataops: "), (args, err)
    assert not (tmp_path / "no").exists()


def test_console_script(golden: Golden) -> None:
    env = {**os.environ, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(golden.ws.settings.home)}
    result = subprocess.run(
        [sys.executable, "-m", "dataops", "validate-export", str(golden.archive), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["valid"] is True


def _on_a_terminal(args: list[str], home: Path) -> tuple[int, str, str]:
    """Run `dataops ARGS` with standard error on a pseudo-terminal: (exit code, standard
    output, what the terminal showed)."""
    import pty

    main_fd, terminal = pty.openpty()
    env = {**os.environ, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(home)}
    env.pop("DATAOPS_SQLITE_PATH", None)
    with subprocess.Popen(
        [sys.executable, "-m", "dataops", *args],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
        text=True,
    ) as process:
        os.close(terminal)
        shown = b""
        while True:
            try:
                data = os.read(main_fd, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not data:
                break
            shown += data
        out = process.stdout.read() if process.stdout else ""
        code = process.wait(timeout=120)
    os.close(main_fd)
    return code, out, shown.decode()


def test_validate_and_import_show_progress_on_a_terminal_only(
    golden: Golden,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = sum(ExportDir(golden.directory).manifest()["entity_counts"].values())
    code, _, shown = _on_a_terminal(["validate-export", str(golden.directory)], tmp_path)
    assert code == 0
    assert "\r\033[Kvalidating tasks: " in shown
    assert f"\r\033[Kvalidated {records:,} records" in shown
    code, _, shown = _on_a_terminal(["import", str(golden.directory)], tmp_path / "target")
    assert code == 0, shown
    assert "\r\033[Kimporting tasks: " in shown
    assert f"\r\033[Kimported {records:,} records" in shown

    code, _, err = run(["validate-export", str(golden.directory)], tmp_path, capsys, monkeypatch)
    assert code == 0
    assert err == ""  # piped: quiet
    code, _, err = run(["import", str(golden.directory)], tmp_path / "t2", capsys, monkeypatch)
    assert code == 0
    assert "\r" not in err
    assert "\033" not in err


def test_dry_run_refuses_a_non_empty_store_as_the_import_does(
    golden: Golden,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = golden.ws.settings.home  # holds records
    code, out, dry = run(["import", str(golden.directory), "--dry-run"], home, capsys, monkeypatch)
    assert code == 1
    assert out == ""
    code, out, real = run(["import", str(golden.directory)], home, capsys, monkeypatch)
    assert code == 1
    assert dry == real
    assert "already holds records" in dry
    code, out, err = run(
        ["import", str(golden.directory), "--dry-run", "--allow-existing"],
        home,
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1 : 1 + len(EXPORTED)]}
    assert rows["tasks"][:2] == ["0", "0"]  # all there already: skipped


def test_a_dry_run_creates_no_database_file(
    golden: Golden,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    code, _out, err = run(["import", str(golden.archive), "--dry-run"], home, capsys, monkeypatch)
    assert code == 0, err
    assert "nothing was written" in err
    assert not home.exists()
    home.mkdir()
    code, _out, err = run(["import", str(golden.archive), "--dry-run"], home, capsys, monkeypatch)
    assert code == 0, err
    assert list(home.iterdir()) == []
