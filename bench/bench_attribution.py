"""Quote attribution benchmark (SKILL_05 + SKILL_08) on public gold: accuracy, precision and
coverage per dataset, from the dialogue scorer (README of the gold folder).

Usage (project root, venv active):
  python bench/bench_attribution.py [--data ../shared/dialogue] [--threshold 0.35]
      [--wp-splits dev] [--extras]
`--data` may point at any folder in the scorer's layout (pdnc/index.json + <Novel>.json/.txt,
wp/<split>.json), e.g. a held-out set of other PDNC novels and the WP test split.
Figures: acc = correct / all gold quotes; prec = correct / attributed; coverage = share of
detected quotes that got a speaker; detect = quotes found at all.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "dialogue"
LINE = re.compile(
    r"^(?P<tag>(?:PDNC|WP)-\S+): n=(?P<n>\d+) detect (?P<detect>[\d.]+) acc (?P<acc>[\d.]+) "
    r"prec (?P<prec>[\d.]+) attr (?P<attr>[\d.]+)(?P<rest>.*)$"
)


def run(
    data: pathlib.Path,
    threshold: float | None,
    wp_splits: str,
    extras: bool,
    scorer: pathlib.Path = DEFAULT_DATA,
) -> dict:
    """Run the scorer in-process; returns {dataset: {n, detect, acc, prec, coverage, detail}}."""
    sys.path.insert(0, str(scorer))
    sys.path.insert(0, str(ROOT))
    import eval_dialogue  # the gold folder's scorer

    from nf_skills import s08_dialogue

    if threshold is not None:
        s08_dialogue.THRESHOLD = threshold
    argv = ["eval_dialogue", "--data", str(data), "--project", str(ROOT), "--wp-splits", wp_splits]
    if not extras:
        argv.append("--no-extras")
    out = io.StringIO()
    old = sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(out):
            eval_dialogue.main()
    finally:
        sys.argv = old
    res = {}
    for line in out.getvalue().splitlines():
        m = LINE.match(line)
        if m:
            res[m.group("tag")] = {
                "n": int(m.group("n")),
                "detect": float(m.group("detect")),
                "acc": float(m.group("acc")),
                "prec": float(m.group("prec")),
                "coverage": float(m.group("attr")),
                "detail": m.group("rest").strip(" |"),
            }
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--scorer", default=str(DEFAULT_DATA), help="folder of eval_dialogue.py")
    ap.add_argument("--threshold", type=float, default=None, help="SKILL_08 confidence threshold")
    ap.add_argument("--wp-splits", default="dev")
    ap.add_argument("--extras", action="store_true", help="also gold-character diagnostics")
    args = ap.parse_args()
    data = pathlib.Path(args.data)
    scorer = pathlib.Path(args.scorer)
    if not (scorer / "eval_dialogue.py").is_file() or not (data / "pdnc").is_dir():
        print(f"no scorer under {scorer} or no gold under {data}")
        return 2
    res = run(data, args.threshold, args.wp_splits, args.extras, scorer)
    print(f"{'dataset':28} {'n':>6} {'acc':>6} {'prec':>6} {'cover':>6} {'detect':>6}")
    for tag, r in res.items():
        print(
            f"{tag:28} {r['n']:6d} {r['acc']:6.3f} {r['prec']:6.3f} {r['coverage']:6.3f} "
            f"{r['detect']:6.3f}  {r['detail'][:90]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
