"""`nf proposal`, `nf experiment`, `nf observer`, `nf audit`: the governance commands.

The acting user is `--actor` (an email or user id; default $NF_ACTOR); roles come from their
memberships in --tenant/--project. Every failure exits non-zero with its registered error code;
a refused promotion also prints its gate report.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from shared.config import get_settings
from shared.errors import NFError


def _out(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _engine():
    from shared.db import get_engine

    return get_engine()


def _actor(args: argparse.Namespace) -> str:
    actor = args.actor or get_settings().actor
    if not actor:
        raise NFError("NF-AUTH-004", "who is acting? pass --actor <email> or set NF_ACTOR")
    return actor


def _scope(args: argparse.Namespace) -> tuple[str, str]:
    from shared.config import get_settings

    s = get_settings()
    return args.tenant or s.default_tenant, args.project or s.default_project


def cmd_proposal(args: argparse.Namespace) -> int:
    from nf_services.governance import proposals

    engine = _engine()
    if args.action == "create":
        tenant, project = _scope(args)
        doc: Any = proposals.create_proposal(
            engine,
            tenant_id=tenant,
            project_id=project,
            kind=args.kind,
            target=args.target,
            from_ref=args.from_ref,
            to_ref=args.to_ref,
            actor=_actor(args),
            reason=args.reason,
            idempotency_key=args.idempotency_key,
        )
    elif args.action == "show":
        doc = proposals.get_proposal(engine, args.id)
    elif args.action == "list":
        tenant, project = _scope(args)
        doc = proposals.list_proposals(engine, tenant, project, args.status)
    else:
        action = args.action
        if action == "review":
            if args.approve == args.reject:
                raise NFError("NF-INPUT-001", "review needs exactly one of --approve / --reject")
            action = "approve" if args.approve else "reject"
        try:
            doc = proposals.transition(
                engine, args.id, action, actor=_actor(args), reason=args.reason
            )
        except NFError as exc:
            if exc.code == "NF-GOV-002" and "gate_report" in exc.context:
                _out({"gate_report": exc.context["gate_report"]})
            raise
    _out(doc)
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from nf_services.governance import experiments

    engine = _engine()
    tenant, project = _scope(args)
    if args.action == "create":
        weights = tuple(float(w) for w in args.weights.split(",")) if args.weights else None
        doc: Any = experiments.create_experiment(
            engine,
            tenant_id=tenant,
            project_id=project,
            name=args.name,
            target=args.target,
            control_ref=args.control,
            candidate_ref=args.candidate,
            metric=args.metric,
            kind=args.kind,
            min_samples=args.min_samples,
            weights=weights,  # type: ignore[arg-type]
            actor=args.actor or get_settings().actor or "system",
        )
    elif args.action == "assign":
        units = list(args.unit or [])
        if args.novel and args.chapters:
            units += [experiments.unit_id(args.novel, i) for i in range(1, args.chapters + 1)]
        if not units:
            raise NFError("NF-INPUT-001", "give --unit ... or --novel KEY --chapters N")
        doc = experiments.assign_units(
            engine, args.name, units, tenant_id=tenant, project_id=project
        )
    elif args.action == "show":
        doc = experiments.get_experiment(engine, args.name, tenant_id=tenant, project_id=project)
    else:
        doc = experiments.decide_experiment(
            engine,
            args.name,
            tenant_id=tenant,
            project_id=project,
            alpha=args.alpha,
            open_proposal=not args.no_proposal,
            actor=args.actor or get_settings().actor or "system",
        )
    _out(doc)
    return 0


def cmd_observer(args: argparse.Namespace) -> int:
    from nf_services.governance import observer

    report = observer.rollup(
        _engine(),
        date.fromisoformat(args.day_from) if args.day_from else None,
        date.fromisoformat(args.day_to) if args.day_to else None,
        tenant_id=args.tenant,
    )
    _out(report.to_dict())
    if report.coverage < observer.COVERAGE_TARGET:
        print(
            f"error-code coverage {report.coverage:.1%} < {observer.COVERAGE_TARGET:.0%}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from nf_services.governance import index_audit

    report = index_audit.audit_indexes(
        _engine(), seed_jobs=0 if args.live else args.rows, min_rows=args.min_rows
    )
    if args.json:
        _out(report.to_dict())
    else:
        for q in report.queries:
            mark = "ok  " if q.passed else "FAIL"
            print(f"{mark} {q.name:<28} {' > '.join(q.nodes)}  [{', '.join(q.indexes)}]")
        print(
            "index audit "
            + ("passed" if report.passed else "FAILED: " + "; ".join(report.failures))
        )
    return 0 if report.passed else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from shared.models.governance import EXPERIMENT_KINDS, PROPOSAL_KINDS

    def scoped(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tenant")
        p.add_argument("--project")
        p.add_argument("--actor", help="email or user id (default $NF_ACTOR)")

    s = sub.add_parser("proposal", help="propose, review, promote and roll back changes")
    s.add_argument(
        "action", choices=["create", "submit", "review", "promote", "rollback", "show", "list"]
    )
    s.add_argument("id", nargs="?", help="proposal id (all but create/list)")
    scoped(s)
    s.add_argument("--kind", choices=PROPOSAL_KINDS, default="skill_version")
    s.add_argument("--target", help="SKILL_NN, SKILL_NN/<template>, a provider slot, ...")
    s.add_argument("--from", dest="from_ref", help="the ref it replaces (default: the live one)")
    s.add_argument("--to", dest="to_ref", help="the candidate ref")
    s.add_argument("--reason")
    s.add_argument("--idempotency-key")
    s.add_argument("--approve", action="store_true")
    s.add_argument("--reject", action="store_true")
    s.add_argument("--status", help="list: only this status")
    s.set_defaults(fn=cmd_proposal)

    s = sub.add_parser("experiment", help="SKILL_17 A/B experiments")
    s.add_argument("action", choices=["create", "assign", "decide", "show"])
    s.add_argument("name", help="experiment name (a slug) or id")
    scoped(s)
    s.add_argument("--kind", choices=EXPERIMENT_KINDS, default="skill_version")
    s.add_argument("--target", help="SKILL_NN (or SKILL_NN/<template>, or a provider slot)")
    s.add_argument("--control")
    s.add_argument("--candidate")
    s.add_argument(
        "--metric",
        default="gate_pass",
        help="gate_pass, latency_ms, cost_usd, rating or content:<rule>",
    )
    s.add_argument("--min-samples", type=int, default=30)
    s.add_argument("--weights", help="control,candidate shares, e.g. 0.8,0.2")
    s.add_argument("--unit", action="append", help="assign: a unit <partition_key>:<chapter>")
    s.add_argument("--novel", help="assign: a novel partition key (with --chapters)")
    s.add_argument("--chapters", type=int)
    s.add_argument("--alpha", type=float, default=0.05)
    s.add_argument("--no-proposal", action="store_true", help="decide: do not open a proposal")
    s.set_defaults(fn=cmd_experiment)

    s = sub.add_parser("observer", help="error and cost rollups")
    s.add_argument("action", choices=["rollup"])
    s.add_argument("--from", dest="day_from", help="first UTC day (default: yesterday)")
    s.add_argument("--to", dest="day_to", help="last UTC day (default: today)")
    s.add_argument("--tenant")
    s.set_defaults(fn=cmd_observer)

    s = sub.add_parser("audit", help="EXPLAIN the key queries; fail on a missing index")
    s.add_argument("action", choices=["indexes"])
    s.add_argument("--rows", type=int, default=100_000, help="synthetic jobs to seed")
    s.add_argument("--live", action="store_true", help="explain against the live tables")
    s.add_argument("--min-rows", type=int, default=5_000)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_audit)
