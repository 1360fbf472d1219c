"""What a project's novels run with besides code: its active skill versions (with their config:
provider choice, options) and prompt templates. A promotion changes this; its fingerprint is the
data version Dagster sees for the `project_versions` asset of each of the project's novels."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, tuple_

from shared.models import Base

T = Base.metadata.tables
Project = tuple[str, str]  # (tenant_id, project_id)


@dataclass(frozen=True)
class Active:
    version: str  # with "#<config hash>" when the skill version carries config
    since: datetime  # when it became active (the row's last update)


def active_versions(engine: Engine, projects: list[Project]) -> dict[Project, dict[str, Active]]:
    """Per project: `SKILL_NN` -> its active version (and a hash of its config), `SKILL_NN/name`
    -> its active template version; empty for a project that runs the code's defaults."""
    found: dict[Project, dict[str, Active]] = {p: {} for p in projects}
    if not projects:
        return found
    sv, pt = T["skill_versions"], T["prompt_templates"]
    with engine.connect() as conn:
        for table, name in ((sv, sv.c.skill_id), (pt, pt.c.skill_id + "/" + pt.c.name)):
            cols = [
                table.c.tenant_id,
                table.c.project_id,
                name.label("name"),
                table.c.version,
                table.c.updated_at,
            ]
            if table is sv:
                cols.append(sv.c.config)
            rows = conn.execute(
                select(*cols).where(
                    tuple_(table.c.tenant_id, table.c.project_id).in_(projects),
                    table.c.status == "active",
                )
            ).all()
            for r in rows:
                version = r.version
                if table is sv and r.config:
                    blob = json.dumps(r.config, sort_keys=True, default=str).encode()
                    version += "#" + hashlib.sha256(blob).hexdigest()[:8]
                found[(r.tenant_id, r.project_id)][r.name] = Active(version, r.updated_at)
    return found


def fingerprint(versions: dict[str, Active]) -> str:
    """A short, stable hash of one project's `active_versions` (the versions, not the times)."""
    blob = json.dumps({k: v.version for k, v in versions.items()}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
