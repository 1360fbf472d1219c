"""The main job: put a sample novel into a project and run it end to end through the asset
graph on the Dagster instance that `dagster dev` (scripts/dagster-dev.sh) also uses."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from nf_services.admission import Admission, admit, check_size
from shared.config import REPO_ROOT, get_settings
from shared.errors import NFError

CORPUS = REPO_ROOT / "corpus"  # public-domain novels, copied from ../shared/corpus
DEFAULT_NOVEL = CORPUS / "zh_a_q_zhengzhuan.txt"
# step-by-step DEBUG lines belong in the Dagster UI, not on the operator's terminal
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def dagster_env() -> dict[str, str]:
    """DAGSTER_HOME (with the repo's dagster.yaml) and the storage URL it reads."""
    from shared.db import dagster_database_url, ensure_database

    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    url = dagster_database_url()
    ensure_database(url)
    return {"DAGSTER_HOME": str(home), "NF_DAGSTER_PG_URL": url}


def first_chapters(data: bytes, n: int) -> bytes:
    """The book cut to its first n chapters (headings kept), re-encoded as UTF-8."""
    from nf_skills import s01_ingest, s02_chapter_split

    ingested = s01_ingest.ingest(data)
    split = s02_chapter_split.split_chapters(ingested.text, ingested.language)
    parts = [f"{c.title}\n\n{c.text.strip()}\n" for c in split.chapters[:n]]
    return "\n".join(parts).encode()


def admit_file(path: Path) -> tuple[bytes, Admission]:
    """Read and admit a novel file (nf_services.admission), printing its warnings on stderr. The
    size is checked before the file is read; a refusal raises NFError and writes nothing."""
    if not path.is_file():
        raise NFError("NF-INPUT-010", f"no such file: {path}")
    check_size(path.stat().st_size)
    data = path.read_bytes()
    admitted = admit(data)
    for w in admitted.warnings:
        print(w.line(), file=sys.stderr, flush=True)
    return data, admitted


def run_demo(args: argparse.Namespace) -> int:
    path = Path(args.novel) if args.novel else DEFAULT_NOVEL
    data, admitted = admit_file(path)  # before the database, Dagster or the store are touched

    import dagster as dg

    from migrations import runner
    from nf_cli.runs import run_failure, run_novel
    from shared.db import database_url, get_engine
    from shared.slugs import slugify
    from shared.storage import artifact_store

    started = time.perf_counter()
    url = database_url()
    runner.upgrade(url, "head")
    engine = get_engine(url)
    settings = get_settings()
    store = artifact_store(settings)

    slug = args.slug or slugify(path.stem.replace("_", "-"))
    if args.chapters:
        data = first_chapters(data, args.chapters)
        slug = f"{slug}-{args.chapters}ch"
        admitted = None  # other bytes now: run_novel admits them again
    os.environ.update(dagster_env())
    print(f"running {args.tenant}.{args.project}.{slug} ...", flush=True)
    run = run_novel(
        engine,
        settings.artifacts_dir,
        tenant=args.tenant,
        project=args.project,
        slug=slug,
        data=data,
        title=path.stem,
        instance=dg.DagsterInstance.get(),
        run_config=QUIET,
        admission=admitted,
    )
    result = run.result
    elapsed = time.perf_counter() - started
    checks = ", ".join(
        f"{e.asset_check_key.name}={'pass' if e.passed else 'FAIL'}"
        for e in result.get_asset_check_evaluations()
    )
    if not result.success:
        code, message = run_failure(engine, run.instance, result.run_id)
        print(f"run {result.run_id} failed: {code}: {message}", file=sys.stderr, flush=True)
        print(
            f"  after {elapsed:.1f}s; details: `nf trace {run.trace_id}` and the Dagster UI "
            "(bash scripts/dagster-dev.sh)"
        )
        return 1
    export = result.output_for_node("export_record")
    manifest = store.uri(export["manifest_path"])
    print(
        f"done in {elapsed:.1f}s: {export['chapters']} chapter videos, "
        f"{export['seconds'] / 60:.1f} min of narration\n"
        f"  checks:    {checks}\n"
        f"  manifest:  {manifest}\n"
        f"  artifacts: {store.location} (paths of every MP4/SRT/VTT are in the manifest)\n"
        f"  database:  {engine.url.render_as_string(hide_password=True)}\n"
        f"  dagster:   DAGSTER_HOME={os.environ['DAGSTER_HOME']}; UI: bash scripts/dagster-dev.sh"
    )
    return 0
