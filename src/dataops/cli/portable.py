"""`dataops export`, `dataops validate-export` and `dataops import`: the portable export
(CONTRACT §6)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dataops.config import Settings

if TYPE_CHECKING:
    from dataops.portable.importing.importer import Plan as ImportPlan


def _export_to_s3(settings: Settings) -> int:
    from dataops import runtime
    from dataops.portable.format import SourceInfo
    from dataops.portable.writing.export import temporary_archive
    from dataops.portable.writing.offsite import upload_archive

    if not settings.export_archive_bucket:
        print("dataops: --to-s3 needs DATAOPS_EXPORT_ARCHIVE_BUCKET", file=sys.stderr)
        return 2
    store = runtime.build_store(settings)
    try:
        archive = temporary_archive(store, SourceInfo.from_environment(settings.env))
    finally:
        store.close()
    try:
        bucket = runtime.build_archive_blobs(settings)
        stored = upload_archive(
            bucket, archive.path, archive.manifest, settings.export_archive_prefix, settings.env
        )
    finally:
        archive.remove()
    print(
        f"uploaded {stored.size_bytes} bytes ({stored.checksum}, version {stored.version or '-'})",
        file=sys.stderr,
    )
    print(stored.uri)
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.to_s3:
        return _export_to_s3(Settings.from_env())
    if args.out is None:
        print("dataops: give OUT (a directory or OUT.tar.gz) or --to-s3", file=sys.stderr)
        return 2
    from dataops import runtime
    from dataops.portable.format import SourceInfo
    from dataops.portable.writing.export import write_export

    settings = Settings.from_env()
    store = runtime.build_store(settings)
    try:
        result = write_export(
            store,
            Path(args.out),
            SourceInfo.from_environment(settings.env),
            progress=_terminal(),
        )
    except OSError as exc:
        print(f"dataops: export failed, nothing was written: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    counts = ", ".join(f"{n} {c}" for n, c in result.manifest["entity_counts"].items())
    print(f"exported {result.total} records to {result.path} ({counts})", file=sys.stderr)
    print(result.path)
    return 0


def _validate_export(args: argparse.Namespace) -> int:
    from dataops.portable.checking.validate import validate_export

    report = validate_export(Path(args.path), progress=_terminal())
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for line in report.lines():
            print(line)
        total = sum(report.entity_counts.values())
        files = len(report.entity_counts)
        warned = f", {report.warnings_total} warnings" if report.warnings_total else ""
        if report.valid:
            print(f"valid: {total} records in {files} entity files{warned}")
        elif report.stopped:
            print(f"NOT valid: {report.problem_count} problems or more ({total} records read)")
        else:
            print(f"NOT valid: {report.problem_count} problems ({total} records read)")
    return 0 if report.valid else 1


def _print_plan(plan: ImportPlan) -> None:
    print(f"{'entity':<16}{'insert':>8}{'update':>8}{'skip':>8}{'invalid':>9}")
    for name, counts in plan.entities.items():
        print(f"{name:<16}{counts.insert:>8}{counts.update:>8}{counts.skip:>8}{counts.invalid:>9}")
    edges = sum(plan.report.relationships.values())
    print(f"relationships: {edges} edges across {len(plan.report.relationships)} kinds")
    problems = [*plan.report.lines(), *(c.text() for c in plan.conflicts)]
    problems.sort(key=lambda line: line.startswith("warning: "))  # problems first
    for line in problems[:50]:
        print(f"  {line}")
    if len(problems) > 50:
        print(f"  ... {len(problems) - 50} more (see `dataops validate-export`)")


def _import(args: argparse.Namespace) -> int:
    import tempfile

    from dataops import runtime
    from dataops.portable.importing.importer import ImportRefused, apply_import, plan_import

    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="dataops-import-") as scratch:
        if args.dry_run:
            store = runtime.build_reading_store(settings, Path(scratch))
        else:
            store = runtime.build_store(settings)
        try:
            if args.dry_run:
                plan = plan_import(
                    Path(args.path),
                    store,
                    allow_existing=args.allow_existing,
                    progress=_terminal(),
                )
            else:
                plan = apply_import(
                    Path(args.path),
                    store,
                    allow_existing=args.allow_existing,
                    progress=_terminal(),
                )
        except ImportRefused as exc:
            if exc.plan is not None:
                _print_plan(exc.plan)
            print(f"dataops: {exc.detail}", file=sys.stderr)
            return 1
        finally:
            store.close()
    _print_plan(plan)
    if args.dry_run:
        print("dry run: nothing was written", file=sys.stderr)
        return 0 if plan.importable else 1
    if plan.users_without_credentials:
        print(
            f"{plan.users_without_credentials} user(s) imported without passwords (exports "
            "carry none); set them with `dataops users passwd EMAIL`",
            file=sys.stderr,
        )
    return 0


def _terminal() -> TextIO | None:
    """Standard error when it is a terminal (for progress), else None: quiet when piped."""
    return sys.stderr if sys.stderr.isatty() else None


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """export, validate-export, import."""
    export = sub.add_parser("export", help="portable export (a directory, or OUT.tar.gz)")
    export.add_argument("out", metavar="OUT", nargs="?")
    export.add_argument(
        "--to-s3",
        action="store_true",
        help="upload a .tar.gz to DATAOPS_EXPORT_ARCHIVE_BUCKET instead of writing OUT",
    )
    export.set_defaults(handler=_export)
    check = sub.add_parser("validate-export", help="validate a portable export")
    check.add_argument("path", metavar="PATH")
    check.add_argument("--json", action="store_true", help="machine-readable report")
    check.set_defaults(handler=_validate_export)
    load = sub.add_parser("import", help="import a portable export into the configured store")
    load.add_argument("path", metavar="PATH")
    load.add_argument("--dry-run", action="store_true", help="report what would change")
    load.add_argument(
        "--allow-existing", action="store_true", help="merge into a store that has records"
    )
    load.set_defaults(handler=_import)
