"""`nf rag ...`: embedding versions, indexing, evaluation, rollback and search for operators.

Promotion of a candidate goes through the proposal flow (`nf proposal`, kind embedding_version);
`nf rag accept` carries out an open suggestion (a promotion through the same RAG gate);
`nf rag dismiss` closes one with a reason.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from nf_services.novels import find_novel_id
from shared.errors import NFError


def _out(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _engine():
    from shared.db import get_engine

    return get_engine()


def _store():
    from shared.config import get_settings
    from shared.storage import artifact_store

    return artifact_store(get_settings())


def _indexed_novels(engine, tenant: str, project: str) -> list[uuid.UUID]:
    from sqlalchemy import select

    from shared.models import Base

    c = Base.metadata.tables["rag_chunks"]
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(c.c.novel_id)
                .distinct()
                .where(c.c.tenant_id == tenant, c.c.project_id == project)
            ).scalars()
        )


def cmd_versions(args: argparse.Namespace) -> int:
    from nf_services.rag import eval as rag_eval
    from nf_services.rag import governance

    engine = _engine()
    rows = []
    for v in governance.list_versions(args.tenant, args.project, engine=engine):
        summary = rag_eval.latest_summary(v.id, engine=engine)
        rows.append(
            {
                **v.to_dict(),
                "recall_at_k": summary["recall_at_k"],
                "mrr": summary["mrr"],
                "eval_queries": summary["n_queries"],
            }
        )
    if args.json:
        _out(rows)
        return 0
    for r in rows:
        rec = "-" if r["recall_at_k"] is None else f"{r['recall_at_k']:.3f}/{r['mrr']:.3f}"
        print(
            f"{r['status']:<9} {r['name']:<24} {r['backend']:<10} d={r['dimensions']:<5} "
            f"recall/mrr {rec:<13} {r['id']}"
        )
    return 0


def cmd_create_version(args: argparse.Namespace) -> int:
    from nf_services.rag import governance

    params = json.loads(args.params) if args.params else None
    v = governance.create_version(
        args.tenant,
        args.project,
        name=args.name,
        backend=args.backend,
        params=params,
        created_by=args.by,
        reason=args.reason,
        engine=_engine(),
    )
    _out(v.to_dict())
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from nf_services.rag import governance, indexing
    from shared.telemetry import new_trace_id

    engine = _engine()
    versions = (
        [
            governance.get_version(
                args.version, tenant_id=args.tenant, project_id=args.project, engine=engine
            )
        ]
        if args.version
        else indexing.versions_to_index(engine, args.tenant, args.project)
    )
    nid = find_novel_id(engine, args.tenant, args.project, args.novel)
    _out(
        [
            indexing.index_version(
                engine, v, store=_store(), trace_id=new_trace_id(), novel_id=nid
            ).to_dict()
            for v in versions
        ]
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nf_services.rag import eval as rag_eval
    from nf_services.rag import governance, suggestions
    from shared.models.enums import EmbeddingStatus

    engine = _engine()
    nid = find_novel_id(engine, args.tenant, args.project, args.novel)
    if args.version:
        versions = [
            governance.get_version(
                args.version, tenant_id=args.tenant, project_id=args.project, engine=engine
            )
        ]
    else:
        versions = governance.list_versions(
            args.tenant,
            args.project,
            engine=engine,
            statuses=(EmbeddingStatus.ACTIVE, EmbeddingStatus.CANDIDATE),
        )
    for novel in [nid] if nid else _indexed_novels(engine, args.tenant, args.project):
        rag_eval.ensure_auto_eval_set(engine, args.tenant, args.project, novel)
    sets = rag_eval.eval_sets(engine, args.tenant, args.project, novel_id=nid)
    if not sets:
        raise NFError("NF-INPUT-010", "no eval set: the project has no chunks yet")
    rows: list[dict[str, Any]] = []
    for v in versions:
        for s in sets:
            o = rag_eval.evaluate_version(
                engine, v, s, k=args.k, method=args.method, store=_store(), trigger="cli"
            )
            rows.append(
                {
                    "version": v.name,
                    "status": str(v.status),
                    "eval_set": s.name,
                    "k": args.k,
                    "recall_at_k": round(o.metrics.recall_at_k, 4),
                    "mrr": round(o.metrics.mrr, 4),
                    "queries": o.metrics.n_queries,
                    "unresolved": o.unresolved,
                }
            )
    made = suggestions.suggest(engine, args.tenant, args.project)
    _out(
        {
            "results": rows,
            "suggestions": [
                {
                    "id": str(s.id),
                    "kind": s.kind,
                    "reason": s.evidence.get("reason"),
                    "from": s.evidence.get("from_name"),
                    "to": s.evidence.get("to_name"),
                    "new": s.created,
                }
                for s in made
            ],
        }
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from nf_services.rag import governance

    v = governance.rollback(
        args.tenant, args.project, args.by, args.reason, to_version_id=args.to, engine=_engine()
    )
    _out({"active": v.to_dict()})
    return 0


def cmd_suggestions(args: argparse.Namespace) -> int:
    from nf_services.rag import suggestions

    _out(
        suggestions.list_suggestions(
            _engine(), args.tenant, args.project, status=None if args.all else "open"
        )
    )
    return 0


def cmd_accept(args: argparse.Namespace) -> int:
    from nf_services.governance.promotion_gate import rag_promotion_gate
    from nf_services.rag import suggestions

    engine = _engine()
    v = suggestions.accept(engine, args.suggestion, args.by, gate=rag_promotion_gate(engine))
    _out({"active": v.to_dict()})
    return 0


def cmd_dismiss(args: argparse.Namespace) -> int:
    from nf_services.rag import suggestions

    suggestions.dismiss(_engine(), args.suggestion, args.by, args.reason)
    _out({"dismissed": args.suggestion})
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from nf_services.rag.retrieval import retrieve

    engine = _engine()
    got = retrieve(
        args.tenant,
        args.project,
        args.query,
        args.k,
        novel_id=find_novel_id(engine, args.tenant, args.project, args.novel),
        version_id=args.version,
        method=args.method,
        engine=engine,
        store=_store(),
    )
    if args.json:
        _out(
            {
                "version": got.version_name,
                "method": got.method,
                "chunks": [c.to_dict() for c in got.chunks],
            }
        )
        return 0
    print(f"version {got.version_name} ({got.method})")
    for c in got.chunks:
        snippet = c.text.replace("\n", " ")[:80]
        print(f"{c.rank:>3} {c.score:.3f} ch{c.chapter_index} [{c.start}:{c.end}] {snippet}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from nf_services.rag.backends import BACKENDS
    from nf_services.rag.store import METHODS
    from shared.config import get_settings

    s = get_settings()
    rag = sub.add_parser("rag", help="embedding versions, evaluation, rollback and search")
    cmds = rag.add_subparsers(dest="rag_command", required=True)

    def scoped(name: str, help_: str, fn) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_)
        p.add_argument("--tenant", default=s.default_tenant)
        p.add_argument("--project", default=s.default_project)
        p.set_defaults(fn=fn)
        return p

    p = scoped("versions", "embedding versions with their latest evaluation", cmd_versions)
    p.add_argument("--json", action="store_true")

    p = scoped("create-version", "a new candidate embedding version", cmd_create_version)
    p.add_argument("--name", required=True)
    p.add_argument("--backend", required=True, choices=BACKENDS)
    p.add_argument("--params", help="JSON, e.g. '{\"dimensions\": 768}' or '{\"k\": 128}'")
    p.add_argument("--by", required=True)
    p.add_argument("--reason")

    p = scoped("index", "embed missing chunks for live versions (or --version)", cmd_index)
    p.add_argument("--version")
    p.add_argument("--novel", help="novel slug or partition key (default: the whole project)")

    p = scoped("evaluate", "evaluate live versions (or --version), write suggestions", cmd_evaluate)
    p.add_argument("--version")
    p.add_argument("--novel")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--method", default="exact", choices=METHODS)

    p = scoped("rollback", "re-activate the previous active version (one command)", cmd_rollback)
    p.add_argument("--by", required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--to", help="a retired version id that was active before")

    p = scoped(
        "suggestions", "open rollback/promote suggestions (--all: every one)", cmd_suggestions
    )
    p.add_argument("--all", action="store_true")

    p = cmds.add_parser("accept", help="carry out a suggestion (promotion through the gate)")
    p.add_argument("suggestion")
    p.add_argument("--by", required=True)
    p.set_defaults(fn=cmd_accept)

    p = cmds.add_parser("dismiss", help="close a suggestion without carrying it out")
    p.add_argument("suggestion")
    p.add_argument("--by", required=True)
    p.add_argument("--reason", required=True)
    p.set_defaults(fn=cmd_dismiss)

    p = scoped("search", "top-k chunks for a query", cmd_search)
    p.add_argument("query")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--version")
    p.add_argument("--novel")
    p.add_argument("--method", default="auto", choices=METHODS)
    p.add_argument("--json", action="store_true")
