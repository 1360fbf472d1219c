"""Character drawings from SKILL_19's designs: a python-avatars face (SVG, rendered by resvg) on
a simple procedural body, the same bitmap for the same design in every panel and chapter.

A design is a dict of feature names (hair, hair_colour, skin, clothing, clothing_colour,
facial_hair, eyebrows, mouth, accessory); unknown names fall back to the part's default so an
old or hand-written design still draws. Bitmaps are cached per (design, height) in the process:
a chapter draws its cast once, whatever the number of shots.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import lru_cache

import python_avatars as pa
import resvg_py
from PIL import Image, ImageDraw

AVATAR_W, AVATAR_H = 264, 280  # python-avatars' viewBox
BUST_SHARE = 0.46  # the avatar (head and shoulders) is this share of a full figure's height
DEFAULT_COLOUR = "#777777"


def design_key(design: dict) -> str:
    """Canonical JSON of a design: the cache key and what a reference sheet lists."""
    return json.dumps({str(k): str(v) for k, v in design.items()}, sort_keys=True)


def design_hash(design: dict) -> str:
    return hashlib.sha256(design_key(design).encode()).hexdigest()[:16]


def _enum(kind, value: str, default):
    try:
        return kind(value)
    except ValueError:
        return default


def _colour(value: object, default: str) -> str:
    v = str(value or "")
    return v if v.startswith("#") and len(v) in (4, 7) else default


def _top(value: str):
    for kind in (pa.HairType, pa.HatType):
        try:
            return kind(value)
        except ValueError:
            continue
    return pa.HairType.SHORT_FLAT


def avatar_svg(design: dict) -> str:
    d = {str(k): str(v) for k, v in design.items()}
    hair_colour = _colour(d.get("hair_colour"), "#2c1b18")
    return pa.Avatar(
        style=pa.AvatarStyle.TRANSPARENT,
        top=_top(d.get("hair", "short_flat")),
        hair_color=hair_colour,
        facial_hair=_enum(pa.FacialHairType, d.get("facial_hair", ""), pa.FacialHairType.NONE),
        facial_hair_color=hair_colour,
        skin_color=_colour(d.get("skin"), "#edb98a"),
        clothing=_enum(pa.ClothingType, d.get("clothing", ""), pa.ClothingType.SHIRT_CREW_NECK),
        clothing_color=_colour(d.get("clothing_colour"), DEFAULT_COLOUR),
        eyebrows=_enum(pa.EyebrowType, d.get("eyebrows", ""), pa.EyebrowType.DEFAULT_NATURAL),
        eyes=pa.EyeType.DEFAULT,
        mouth=_enum(pa.MouthType, d.get("mouth", ""), pa.MouthType.DEFAULT),
        accessory=_enum(pa.AccessoryType, d.get("accessory", ""), pa.AccessoryType.NONE),
        nose=pa.NoseType.DEFAULT,
    ).render()


MASTER_H = 560  # the SVG is rasterised once per design at this height, then resized


@lru_cache(maxsize=64)
def _master(key: str) -> Image.Image:
    svg = avatar_svg(json.loads(key))
    width = round(MASTER_H * AVATAR_W / AVATAR_H)
    png = resvg_py.svg_to_bytes(svg_string=svg, width=width, height=MASTER_H)
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


@lru_cache(maxsize=128)
def _bust(key: str, height: int) -> Image.Image:
    master = _master(key)
    if height == master.height:
        return master
    width = max(1, round(height * AVATAR_W / AVATAR_H))
    # premultiplied alpha so the transparent edge does not pick up black from the background
    return master.convert("RGBa").resize((width, height), Image.LANCZOS).convert("RGBA")


def bust(design: dict, height: int) -> Image.Image:
    """Head and shoulders, `height` px tall, transparent around (cached: do not draw on it)."""
    return _bust(design_key(design), max(8, int(height)))


def _darker(hex_colour: str, t: float) -> tuple[int, int, int, int]:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return (round(r * (1 - t)), round(g * (1 - t)), round(b * (1 - t)), 255)


@lru_cache(maxsize=128)
def _figure(key: str, height: int) -> Image.Image:
    design = json.loads(key)
    bh = max(8, round(height * BUST_SHARE))
    top = _bust(key, bh)
    s = bh / AVATAR_H
    w = max(top.width, round(220 * s))
    im = Image.new("RGBA", (w, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    cx = w / 2
    cloth = _colour(design.get("clothing_colour"), DEFAULT_COLOUR)
    body, shade = _darker(cloth, 0.0), _darker(cloth, 0.3)
    skin = _darker(_colour(design.get("skin"), "#edb98a"), 0.05)
    y0 = bh - 6 * s  # the avatar's shoulders end at its bottom edge
    shoulder = 100 * s  # half the avatar's shoulder width
    waist = y0 + height * 0.22
    # arms first, so the torso covers their tops
    for side in (-1, 1):
        x = cx + side * shoulder * 0.92
        d.polygon(
            [(x - 14 * s, y0), (x + 14 * s, y0), (x + side * 10 * s + 12 * s, waist),
             (x + side * 10 * s - 12 * s, waist)],
            fill=shade,
        )  # fmt: skip
        hx = x + side * 10 * s
        d.ellipse([hx - 13 * s, waist - 6 * s, hx + 13 * s, waist + 18 * s], fill=skin)
    d.polygon(
        [(cx - shoulder, y0), (cx + shoulder, y0), (cx + shoulder * 0.72, waist),
         (cx - shoulder * 0.72, waist)],
        fill=body,
    )  # fmt: skip
    # a long robe (darker) to the ankles, then feet
    feet = height - 10 * s
    d.polygon(
        [(cx - shoulder * 0.72, waist), (cx + shoulder * 0.72, waist), (cx + shoulder * 0.9, feet),
         (cx - shoulder * 0.9, feet)],
        fill=shade,
    )  # fmt: skip
    d.line([(cx, waist), (cx, feet)], fill=_darker(cloth, 0.45), width=max(1, round(3 * s)))
    d.rectangle([cx - shoulder * 0.72, waist - 6 * s, cx + shoulder * 0.72, waist + 4 * s],
                fill=_darker(cloth, 0.55))  # fmt: skip
    for side in (-1, 1):
        fx = cx + side * shoulder * 0.35
        d.ellipse([fx - 26 * s, feet - 8 * s, fx + 26 * s, height], fill=(40, 32, 28, 255))
    im.alpha_composite(top, (round(cx - top.width / 2), 0))
    return im


def figure(design: dict, height: int) -> Image.Image:
    """The whole character, `height` px tall, transparent around (cached: do not draw on it)."""
    return _figure(design_key(design), max(24, int(height)))
