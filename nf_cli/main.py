"""`nf`: operators' tool. Every failure prints its registered error code and message on one
line of stderr and exits non-zero: `error NF-INPUT-003: ...` for the commands that print text
(demo, chapters, characters, dialogue, db, docs, env), the JSON object `{"error_code", "message",
"retryable"}` for those that print JSON (and with --json), which scripts parse."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from shared.config import get_settings
from shared.errors import NFError
from shared.telemetry import configure_logging

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def _out(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


# file checks -------------------------------------------------------------------------------
def _read_split(path: str):
    from nf_skills import s01_ingest, s02_chapter_split

    p = Path(path)
    if not p.is_file():
        raise NFError("NF-INPUT-010", f"no such file: {path}")
    ingested = s01_ingest.ingest(p.read_bytes())
    return ingested, s02_chapter_split.split_chapters(ingested.text, ingested.language)


def cmd_chapters(args: argparse.Namespace) -> int:
    ingested, split = _read_split(args.path)
    doc = {
        "encoding": ingested.encoding,
        "language": ingested.language,
        "strategy": split.strategy,
        "chapters": [
            {"index": c.index, "title": c.title, "chars": len(c.text)} for c in split.chapters
        ],
    }
    if args.json:
        _out(doc)
    else:
        print(
            f"encoding {doc['encoding']}, language {doc['language']}, "
            f"{len(split.chapters)} chapters ({split.strategy})"
        )
        for c in doc["chapters"]:
            print(f"{c['index']:>4}  {c['chars']:>7}  {c['title']}")
    return 0


def cmd_characters(args: argparse.Namespace) -> int:
    from nf_skills import s05_characters

    ingested, split = _read_split(args.path)
    found = s05_characters.extract_characters(split.chapters, ingested.language, top_n=args.top)
    rows = [
        {"name": c.name, "aliases": c.aliases, "mentions": c.mentions}
        for c in found.characters[: args.top]
    ]
    if args.json:
        _out({"language": ingested.language, "characters": rows})
    else:
        for r in rows:
            print(f"{r['mentions']:>6}  {r['name']}  {' / '.join(r['aliases'])}")
    return 0


DIALOGUE_CHARACTERS = 50  # as many characters as the pipeline gives SKILL_08 (TOP_CHARACTERS)


def cmd_dialogue(args: argparse.Namespace) -> int:
    """SKILL_08 on a file: per chapter, every quote with offsets, speaker, rule and confidence."""
    from nf_skills import s05_characters, s08_dialogue

    ingested, split = _read_split(args.path)
    chapters = split.chapters
    if args.chapter is not None:
        chapters = [c for c in chapters if c.index == args.chapter]
        if not chapters:
            raise NFError(
                "NF-INPUT-010", f"no chapter {args.chapter}: the file has {len(split.chapters)}"
            )
    found = s05_characters.extract_characters(
        split.chapters, ingested.language, top_n=DIALOGUE_CHARACTERS
    )
    doc_chapters = []
    for c in chapters:
        lines = s08_dialogue.attribute_dialogue(c, found, ingested.language)
        quotes = [
            {
                "start": d.start,
                "end": d.end,
                "text": d.quote,
                "speaker": d.speaker,
                "rule": d.rule,
                "cue": d.cue,
                "confidence": d.confidence,
            }
            for d in lines
        ]
        doc_chapters.append({"index": c.index, "title": c.title, "quotes": quotes})
    if args.json:
        _out(
            {
                "language": ingested.language,
                "strategy": split.strategy,
                "characters": [ch.name for ch in found.characters],
                "chapters": doc_chapters,
            }
        )
        return 0
    total = sum(len(c["quotes"]) for c in doc_chapters)
    named = sum(1 for c in doc_chapters for q in c["quotes"] if q["speaker"])
    print(
        f"language {ingested.language}, {len(doc_chapters)} chapters, {total} quotes, "
        f"{named} attributed"
    )
    for c in doc_chapters:
        print(f"chapter {c['index']}  {c['title']}  ({len(c['quotes'])} quotes)")
        for q in c["quotes"]:
            text = " ".join(q["text"].split())
            text = text if len(text) <= 60 else text[:59] + "…"
            who = q["speaker"] or "-"
            print(
                f"  {q['start']:>7}-{q['end']:<7} {who:<18} {q['rule'] or '-':<12} "
                f"{q['confidence']:.2f}  {text}"
            )
    return 0


# database ----------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace) -> int:
    from migrations import runner
    from shared.db import database_url

    url = database_url()
    if args.action == "upgrade":
        runner.upgrade(url, args.rev or "head")
        print(f"upgraded to {runner.current(url)}")
    elif args.action == "downgrade":
        runner.downgrade(url, args.rev or "base")
        print(f"downgraded to {runner.current(url)}")
    elif args.action == "current":
        print(runner.current(url))
    elif args.action == "backfill":
        from migrations.backfill import run_backfill
        from shared.db import get_engine

        report = run_backfill(get_engine(url))
        if args.report_dir:
            d = Path(args.report_dir)
            d.mkdir(parents=True, exist_ok=True)
            (d / "backfill-report.json").write_text(report.to_json())
            (d / "backfill-report.md").write_text(report.to_markdown())
        print(report.to_markdown())
    elif args.action == "status":
        _out(db_status(url))
    return 0


def db_status(url: str) -> dict:
    from sqlalchemy import func, select

    from migrations import runner
    from shared.db import get_engine
    from shared.models import Base

    engine = get_engine(url)
    with engine.connect() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(table)).scalar()
            for name, table in sorted(Base.metadata.tables.items())
        }
    safe_url = engine.url.render_as_string(hide_password=True)
    return {"database": safe_url, "revision": runner.current(url), "tables": counts}


# the main job ------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from nf_cli.demo import run_demo

    return run_demo(args)


def cmd_env(args: argparse.Namespace) -> int:
    from nf_cli.demo import dagster_env

    for k, v in dagster_env().items():
        print(f"export {k}='{v}'")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from nf_cli import docs

    if args.check:
        stale = docs.drifted()
        if stale:
            print(f"generated docs drifted: {', '.join(stale)}; run `nf docs`", file=sys.stderr)
            return 1
        print("generated docs are up to date")
        return 0
    print("wrote " + ", ".join(docs.write_all()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nf", description="Novel Factory operators' tool")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("chapters", help="detected encoding and chapter list of a file")
    s.add_argument("path")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_chapters, text_errors=True)

    s = sub.add_parser("characters", help="characters with aliases and mention counts")
    s.add_argument("path")
    s.add_argument("--top", type=int, default=20)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_characters, text_errors=True)

    s = sub.add_parser(
        "dialogue", help="quotes of each chapter with speaker, rule and confidence (SKILL_08)"
    )
    s.add_argument("path")
    s.add_argument("--chapter", type=int, default=None, help="only chapter N (1-based)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_dialogue, text_errors=True)

    s = sub.add_parser("db", help="migrations, backfill and status of nf's database")
    s.add_argument("action", choices=["upgrade", "downgrade", "current", "backfill", "status"])
    s.add_argument("--rev")
    s.add_argument("--report-dir")
    s.set_defaults(fn=cmd_db, text_errors=True)

    s = sub.add_parser("demo", help="run a sample novel end to end (the README's main job)")
    s.add_argument("--novel", default=None, help="text file (default: 阿Q正传 from the corpus)")
    s.add_argument("--tenant", default="demo")
    s.add_argument("--project", default="classics")
    s.add_argument("--slug", default=None)
    s.add_argument("--chapters", type=int, default=None, help="only the first N chapters")
    s.set_defaults(fn=cmd_demo, text_errors=True)

    s = sub.add_parser("docs", help="regenerate docs that restate code (--check: verify)")
    s.add_argument("--check", action="store_true")
    s.set_defaults(fn=cmd_docs, text_errors=True)

    s = sub.add_parser("env", help="shell exports for `dagster dev` on the same storage")
    s.set_defaults(fn=cmd_env, text_errors=True)

    from nf_gateway.cli import add_commands  # tenant/project/user/member/token/submit/status/trace

    add_commands(sub)
    from nf_gateway import shots  # shot regenerate

    shots.add_commands(sub)
    from nf_cli.governance import add_parsers  # proposal/experiment/observer/audit

    add_parsers(sub)
    from nf_cli import rag  # rag versions/create-version/index/evaluate/rollback/search/...

    rag.add_parsers(sub)
    return p


def error_line(exc: NFError, as_json: bool) -> str:
    if as_json:
        return json.dumps(exc.to_dict(), ensure_ascii=False)
    return f"error {exc.code}: {' '.join(exc.detail.split())}"  # one line, whatever the detail


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level)  # nf's own logs: JSON lines with the trace
    try:
        return args.fn(args)
    except NFError as exc:
        as_json = not getattr(args, "text_errors", False) or getattr(args, "json", False)
        print(error_line(exc, as_json), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
