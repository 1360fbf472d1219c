"""Quote attribution benchmark (SKILL_05 + SKILL_08) on public gold: accuracy per dataset, per
gold category and per deciding rule, with a held-out split, scored by the gold folder's own
scorer (`eval_dialogue.py`, README of the gold folder).

Usage (project root, venv active):
  python bench/bench_attribution.py [--data ../shared/dialogue] [--project DIR]
      [--threshold 0.35] [--wp-splits dev]
`--data` may point at any folder in the scorer's layout (pdnc/index.json + <Novel>.json/.txt,
wp/<split>.json), e.g. a held-out set of other PDNC novels and the WP test split. `--project`
scores another checkout of the project (e.g. an older commit unpacked with `git archive`), for
before/after figures.

Figures: acc = correct / all gold quotes (the headline); prec = correct / attributed; cover =
share of detected quotes that got a speaker. PDNC is printed per novel (each novel is a split of
its own: rules written on one are checked on the other) and pooled; WP with characters from
SKILL_05 on the instance window, on the whole book (the split's windows merged back into running
text: production's view) and from the gold name list (SKILL_08 alone), each also in two halves
(A = first 149 instances, B = the rest), since WP dev is one stretch of one novel.
Categories: PDNC explicit (the tag names the speaker), anaphoric (a pronoun or description
names them), implicit (no tag); WP explicit / implicit / latent. Rules: the `cue` the project
gave the line (tag = a speech-verb tag or script line; paragraph, pronoun, beat, alternation,
addressed, narrator: the rule that inferred it; none = no speaker).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections import Counter, defaultdict

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "dialogue"
RULES = ("alternation", "addressed", "pronoun", "paragraph", "beat", "narrator")


def _summary(recs: list[dict]) -> dict:
    n = len(recs)
    c = Counter(r["status"] for r in recs)
    det = n - c["undetected"]
    att = c["correct"] + c["wrong"]
    return {
        "n": n,
        "acc": c["correct"] / n if n else 0.0,
        "prec": c["correct"] / att if att else 0.0,
        "cover": att / det if det else 0.0,
    }


def _rule(r: dict) -> str:
    if r["status"] == "undetected":
        return "undetected"
    if r["pred"] is None:
        return "none"
    return r["cue"] if r["cue"] in RULES else "tag"


def _by(recs: list[dict], key) -> dict[str, dict]:
    groups: dict[str, list] = defaultdict(list)
    for r in recs:
        groups[key(r)].append(r)
    return {k: _summary(v) for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))}


def run(
    data: pathlib.Path,
    project: pathlib.Path,
    threshold: float | None,
    wp_splits: str,
    scorer: pathlib.Path,
) -> dict[str, list[dict]]:
    """{dataset tag: scorer records}; the scorer runs the project's own skills in-process."""
    sys.path.insert(0, str(scorer))
    import eval_dialogue as E  # the gold folder's scorer

    E.SK = E.import_project(str(project))
    if threshold is not None:
        E.SK[3].THRESHOLD = threshold  # SKILL_08's confidence threshold
    out: dict[str, list[dict]] = {}
    dev, test = E.pdnc_novels(data, None, None)
    pooled: dict[str, list] = defaultdict(list)
    for nov in dev + test:
        _n, recs, info = E.run_pdnc_novel((nov, str(data), 50, "project"))
        out[f"PDNC-{info['split']}/{nov}"] = recs
        pooled[f"PDNC-{info['split']}"].extend(recs)
    out.update(pooled)
    for split in wp_splits.split(","):
        for mode in ("book", "instance", "gold"):
            recs, _info = E.run_wp(split, data, 50, mode, "para")
            half = len(recs) // 2
            tag = f"WP-{split}[{mode}]"
            out[tag] = recs
            out[f"{tag}/A"] = recs[:half]
            out[f"{tag}/B"] = recs[half:]
    return out


def figures_of(results: dict[str, list[dict]]) -> dict[str, dict]:
    """{dataset: {n, acc, prec, cover, categories: {type: ...}, rules: {rule: ...}}}."""
    return {
        tag: {
            **_summary(recs),
            "categories": _by(recs, lambda r: r["type"] or "?"),
            "rules": _by(recs, _rule),
        }
        for tag, recs in results.items()
    }


def report(results: dict[str, list[dict]]) -> dict[str, dict]:
    figures = figures_of(results)
    print(f"{'dataset':40} {'n':>5} {'acc':>6} {'prec':>6} {'cover':>6}  per category (acc, n)")
    for tag in results:
        s = figures[tag]
        cat = " | ".join(f"{k} {v['acc']:.3f} ({v['n']})" for k, v in s["categories"].items())
        print(f"{tag:40} {s['n']:5d} {s['acc']:6.3f} {s['prec']:6.3f} {s['cover']:6.3f}  {cat}")
    print("\nby deciding rule (share of quotes, precision of the rule):")
    for tag in results:
        if "/" in tag and not tag.startswith("PDNC"):
            continue
        rules = figures[tag]["rules"]
        n = figures[tag]["n"]
        print(
            f"{tag:40} "
            + " | ".join(
                f"{k} {v['n'] / n:.2f} p={v['prec']:.2f}"
                if k not in ("none", "undetected")
                else f"{k} {v['n'] / n:.2f}"
                for k, v in rules.items()
            )
        )
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--scorer", default=str(DEFAULT_DATA), help="folder of eval_dialogue.py")
    ap.add_argument("--project", default=str(ROOT), help="checkout whose skills are scored")
    ap.add_argument("--threshold", type=float, default=None, help="SKILL_08 confidence threshold")
    ap.add_argument("--wp-splits", default="dev")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    data, scorer = pathlib.Path(args.data), pathlib.Path(args.scorer)
    if not (scorer / "eval_dialogue.py").is_file() or not (data / "pdnc").is_dir():
        print(f"no scorer under {scorer} or no gold under {data}")
        return 2
    figures = report(run(data, pathlib.Path(args.project), args.threshold, args.wp_splits, scorer))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
