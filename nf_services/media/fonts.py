"""Find a font that can draw Chinese as well as Latin text, for panels and captions.

The project's setup installs Debian's fonts-wqy-microhei; other CJK fonts are accepted when found
(known paths, then fontconfig). Without any CJK font the panels still render, with a warning,
because Latin-only novels do not need one.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from shared.config import get_settings

log = logging.getLogger(__name__)


# (path, face index). Micro Hei first: small, sans, and Latin glyphs are included.
KNOWN_CJK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # face 2 = SC
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),
)
KNOWN_LATIN_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)

# Two common characters with clearly different shapes: a real CJK font draws them differently,
# a font without them draws the same "tofu" box (or nothing) for both.
_PROBE_A, _PROBE_B = "永", "国"


@dataclass(frozen=True)
class FontChoice:
    path: str | None  # None: Pillow's bundled default font
    index: int
    cjk: bool


def _fc_list_cjk() -> list[str]:
    exe = shutil.which("fc-list")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, ":lang=zh", "--format", "%{file}\n"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # Prefer regular sans faces; sorted for a deterministic choice.
    files = sorted({line.strip() for line in out.splitlines() if line.strip()})
    return sorted(files, key=lambda f: ("bold" in f.lower(), "serif" in f.lower(), f))


def glyph_mask(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, char: str) -> bytes:
    """The 1-bit bitmap of one character as drawn by `font` (empty bytes if nothing is drawn)."""
    size = 64
    img = Image.new("1", (size, size), 0)
    ImageDraw.Draw(img).text((4, 4), char, fill=1, font=font)
    bbox = img.getbbox()
    return b"" if bbox is None else img.crop(bbox).tobytes()


def draws_cjk(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> bool:
    """True when the font draws two different CJK characters as two different, non-empty shapes."""
    a, b = glyph_mask(font, _PROBE_A), glyph_mask(font, _PROBE_B)
    return bool(a) and bool(b) and a != b


def _candidates() -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    configured = get_settings().cjk_font
    if configured:
        out.append((str(configured), 0))
    out.extend(KNOWN_CJK_FONTS)
    out.extend((f, 0) for f in _fc_list_cjk())
    return out


@lru_cache(maxsize=1)
def find_font() -> FontChoice:
    """The first font that really draws CJK; else a Latin font; else Pillow's default."""
    for path, index in _candidates():
        if not Path(path).is_file():
            continue
        try:
            font = ImageFont.truetype(path, 32, index=index)
        except OSError:
            continue
        if draws_cjk(font):
            return FontChoice(path, index, True)
    log.warning(
        "no CJK-capable font found (install fonts-wqy-microhei or set NF_CJK_FONT); "
        "Chinese text will not render on panels"
    )
    for path in KNOWN_LATIN_FONTS:
        if Path(path).is_file():
            return FontChoice(path, 0, False)
    return FontChoice(None, 0, False)


@lru_cache(maxsize=64)
def load_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The chosen font at `size` pixels (cached: panels reuse a handful of sizes)."""
    choice = find_font()
    if choice.path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(choice.path, size, index=choice.index)
