"""A project's video settings: the `video` section of its config (beside `style`).

    {"video": {"motion": true, "fps": 10, "crossfade": 0.5, "music": true,
               "music_level": 0.09, "exports": ["9:16", "jianying"]}}

Motion and music are on by default. The main video has the style's frame size (SKILL_15: a
project whose style says `aspect_ratio: "9:16"` gets vertical panels and a vertical video);
`exports` asks for more beside it: "9:16" (a vertical MP4 that pans across the wide panels) or
"16:9", and "jianying" (a Jianying/CapCut draft). Unknown keys or values are refused
(NF-MEDIA-004) so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from shared.errors import NFError

FORMATS = {"16:9": (1280, 720), "9:16": (720, 1280)}
EXPORTS = (*FORMATS, "jianying")
_KEYS = {"motion", "fps", "crossfade", "music", "music_level", "exports"}


@dataclass(frozen=True)
class VideoOptions:
    motion: bool = True
    fps: int = 10
    crossfade: float = 0.5
    music: bool = True
    music_level: float = 0.09
    exports: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exports": list(self.exports)}


def _bad(detail: str) -> NFError:
    return NFError("NF-MEDIA-004", f"project video settings: {detail}")


def video_options(project_config: Mapping[str, Any] | None) -> VideoOptions:
    """The project's `video` section checked against the defaults."""
    raw = (project_config or {}).get("video")
    if raw is None:
        return VideoOptions()
    if not isinstance(raw, Mapping):
        raise _bad("'video' must be an object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _bad(f"unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    out: dict[str, Any] = {}
    for key in ("motion", "music"):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise _bad(f"{key} must be true or false, got {raw[key]!r}")
            out[key] = raw[key]
    if "fps" in raw:
        fps = raw["fps"]
        if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 30:
            raise _bad(f"fps must be an integer within 1..30, got {fps!r}")
        out["fps"] = fps
    for key, lo, hi in (("crossfade", 0.0, 2.0), ("music_level", 0.0, 0.5)):
        if key in raw:
            v = raw[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
                raise _bad(f"{key} must be a number within {lo}..{hi}, got {v!r}")
            out[key] = float(v)
    if "exports" in raw:
        ex = raw["exports"]
        if not isinstance(ex, list | tuple) or not all(isinstance(e, str) for e in ex):
            raise _bad("exports must be a list of strings")
        bad = sorted(set(ex) - set(EXPORTS))
        if bad:
            raise _bad(f"unknown exports {bad} (known: {', '.join(EXPORTS)})")
        out["exports"] = tuple(dict.fromkeys(ex))
    return VideoOptions(**out)


def format_of(width: int, height: int) -> str:
    """'9:16' for a portrait frame, else '16:9'."""
    return "9:16" if height > width else "16:9"
