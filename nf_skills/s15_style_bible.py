"""SKILL_15 style_bible: the project's visual constraints (frame size, palette, typography).

Defaults give a 1280x720 dark panel with a CJK-capable font for Chinese; a project may override
any field through its style dict. Unknown keys are refused so a typo cannot silently fall back to
a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from nf_skills.contracts import StyleBible
from shared.errors import NFError

SKILL_ID = "SKILL_15"
VERSION = "1.0.0"

DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 720
DEFAULT_BACKGROUND = "#1b1f2a"
# Distinct mid-to-light hues that read on the dark default background.
DEFAULT_PALETTE = [
    "#e6b450", "#5ccfe6", "#f28779", "#95e6cb", "#d4bfff", "#ffa759", "#bae67e", "#73d0ff",
]  # fmt: skip
FONT_BY_LANGUAGE = {"zh": "WenQuanYi Micro Hei", "en": "DejaVu Sans"}
# Caption height as a share of the frame height: 32 px at 720p, readable on a phone.
CAPTION_SHARE = 0.045

_KEYS = {"width", "height", "aspect_ratio", "palette", "background", "font_family", "caption_size"}
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:/x]\s*(\d+(?:\.\d+)?)\s*$")


def normalise_colour(value: Any, field: str = "colour") -> str:
    """'#abc' / '#AABBCC' -> '#aabbcc'; anything else is refused."""
    if not isinstance(value, str) or not _HEX.match(value.strip()):
        raise NFError("NF-SKILL-001", f"{field} must be '#rgb' or '#rrggbb', got {value!r}")
    v = value.strip().lower()
    if len(v) == 4:
        v = "#" + "".join(c * 2 for c in v[1:])
    return v


def _even_dimension(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise NFError("NF-SKILL-001", f"{field} must be an integer, got {value!r}")
    v = int(value)
    if not 64 <= v <= 7680:
        raise NFError("NF-SKILL-001", f"{field} must be within 64..7680, got {v}")
    return v - v % 2  # H.264 with yuv420p needs even frame sizes


def style_bible(
    project_style: Mapping[str, Any] | None, language: Literal["zh", "en"]
) -> StyleBible:
    """Resolve the project's style dict against the defaults for `language`.

    Keys: width, height, aspect_ratio ("16:9", "9:16"; sets height from width unless height is
    given), palette (list of colours), background, font_family, caption_size (px).
    """
    if language not in FONT_BY_LANGUAGE:
        raise NFError("NF-SKILL-001", f"unsupported language {language!r}")
    style = dict(project_style or {})
    unknown = sorted(set(style) - _KEYS)
    if unknown:
        raise NFError("NF-SKILL-001", f"unknown style keys: {', '.join(unknown)}")

    width = _even_dimension(style.get("width", DEFAULT_WIDTH), "width")
    if "height" in style:
        height = _even_dimension(style["height"], "height")
    elif "aspect_ratio" in style:
        m = _RATIO.match(str(style["aspect_ratio"]))
        if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
            raise NFError("NF-SKILL-001", f"aspect_ratio must look like '16:9', got {style!r}")
        height = _even_dimension(round(width * float(m.group(2)) / float(m.group(1))), "height")
    else:
        height = round(DEFAULT_HEIGHT * width / DEFAULT_WIDTH)
        height -= height % 2

    palette_in = style.get("palette", DEFAULT_PALETTE)
    if not isinstance(palette_in, list | tuple) or not palette_in:
        raise NFError("NF-SKILL-001", "palette must be a non-empty list of colours")
    palette = list(dict.fromkeys(normalise_colour(c, "palette") for c in palette_in))
    background = normalise_colour(style.get("background", DEFAULT_BACKGROUND), "background")

    font = style.get("font_family", FONT_BY_LANGUAGE[language])
    if not isinstance(font, str) or not font.strip():
        raise NFError("NF-SKILL-001", "font_family must be a non-empty string")

    caption_size = style.get("caption_size", max(12, round(height * CAPTION_SHARE)))
    if isinstance(caption_size, bool) or not isinstance(caption_size, int) or caption_size < 8:
        raise NFError("NF-SKILL-001", f"caption_size must be an integer >= 8, got {caption_size!r}")
    if caption_size * 4 > height:
        raise NFError("NF-SKILL-001", f"caption_size {caption_size} is too large for {height}px")

    return StyleBible(
        width=width,
        height=height,
        palette=palette,
        background=background,
        font_family=font.strip(),
        caption_size=caption_size,
        skill_version=VERSION,
    )
