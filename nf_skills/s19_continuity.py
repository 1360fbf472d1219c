"""SKILL_19 continuity: one colour, one short mark and one drawing per character, stable across
shots and chapters (the reference sheet).

A character keeps its persona colour when that colour reads against the style background and is
distinct from the characters before it; otherwise its lightness is pushed until it contrasts
(WCAG ratio) and its hue rotated by the golden angle until it is distinct (CIELAB delta E). The
personas' order decides who keeps their colour first, so pass them in a stable order (by
mentions, as SKILL_14 does) to get the same sheet for every chapter.

The drawing (`character_designs`) is a set of features (hair, its colour, skin, clothing, beard,
eyebrows, mouth, glasses) chosen by a hash of the character's name, narrowed by what the persona
says: gender (hair styles), age words in the name or appearance (白发, 老者, old -> grey hair and
a beard; a bare 老 prefix, as in 老栓, is a familiar form, not an age), a monk (僧/和尚 ->
shaved head), glasses; the clothing takes the continuity colour. Only personas SKILL_14 found
to be people get a design; the names are the features' names in the offline renderer's avatar
parts.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re

from nf_skills.contracts import ContinuitySheet, Persona, StyleBible
from nf_skills.s15_style_bible import normalise_colour
from shared.errors import NFError

SKILL_ID = "SKILL_19"
VERSION = "1.1.0"

MIN_CONTRAST = 3.0  # WCAG 2.x minimum for graphical objects
MIN_DELTA_E = 25.0  # CIELAB 1976 distance that reads as a different colour at a glance
_GOLDEN_TURN = 0.381966
_MAX_TRIES = 36
_ZH_PREFIXES = "阿小老"  # 阿Q, 小D, 老栓: the prefix says nothing about who it is
_HONORIFICS = {"mr", "mrs", "miss", "ms", "dr", "sir", "lady", "lord", "the", "madam"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

RGB = tuple[float, float, float]


def _rgb(hex_colour: str) -> RGB:
    h = hex_colour.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255)


def _hex(rgb: RGB) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c * 255))):02x}" for c in rgb)


def _linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: RGB) -> float:
    r, g, b = (_linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _lab(rgb: RGB) -> RGB:
    r, g, b = (_linear(c) for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def delta_e(a: RGB, b: RGB) -> float:
    return math.dist(_lab(a), _lab(b))


def _with_contrast(rgb: RGB, bg: RGB) -> RGB:
    """Move lightness away from the background until the contrast is enough (or at the end).

    The small margin survives the rounding to 8-bit channels.
    """
    h, lightness, s = colorsys.rgb_to_hls(*rgb)
    step = 0.02 if luminance(bg) < 0.18 else -0.02  # 0.18: where white and black contrast equally
    while contrast(rgb, bg) < MIN_CONTRAST + 0.05 and 0.0 < lightness + step < 1.0:
        lightness += step
        rgb = colorsys.hls_to_rgb(h, lightness, s)
    return rgb


def _candidates(base: RGB):
    h, lightness, s = colorsys.rgb_to_hls(*base)
    yield base
    s2 = max(s, 0.55)  # a grey has no hue to rotate
    levels = (lightness, 0.6, 0.75, 0.45)  # black or white bases need a usable lightness too
    for k in range(1, _MAX_TRIES):
        yield colorsys.hls_to_rgb((h + k * _GOLDEN_TURN) % 1.0, levels[k % len(levels)], s2)


def _pick_colour(base: RGB, bg: RGB, taken: list[RGB]) -> RGB:
    best, best_gap = None, -1.0
    for cand in _candidates(base):
        cand = _with_contrast(cand, bg)
        gap = min((delta_e(cand, t) for t in taken), default=math.inf)
        if gap >= MIN_DELTA_E and contrast(cand, bg) >= MIN_CONTRAST:
            return cand
        if gap > best_gap:
            best, best_gap = cand, gap
    assert best is not None
    return best


def _mark_candidates(name: str) -> list[str]:
    name = name.strip()
    if _CJK.search(name):
        core = name[1:] if len(name) > 1 and name[0] in _ZH_PREFIXES else name
        cands = [core[0], core[:2], core[-1], core[0] + core[-1], name[:2]]
    else:
        words = [w for w in re.split(r"[\s\-_.]+", name) if w]
        kept = [w for w in words if w.lower() not in _HONORIFICS] or words
        initials = "".join(w[0] for w in kept).upper()
        last = kept[-1]
        cands = [initials, (kept[0][:2]).title(), initials + last[1:2].lower(), last[:3].title()]
    return [c for c in dict.fromkeys(cands) if c]


def _marks(names: list[str]) -> dict[str, str]:
    marks: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        choice = next((c for c in _mark_candidates(name) if c not in used), None)
        if choice is None:
            base = _mark_candidates(name)[0]
            n = 2
            while f"{base}{n}" in used:
                n += 1
            choice = f"{base}{n}"
        marks[name] = choice
        used.add(choice)
    return marks


# design vocabulary (the avatar part names the offline renderer knows)
_HAIR = {
    "m": ("short_flat", "short_round", "short_waved", "caesar", "caesar_side_part", "sides",
          "shaggy", "buzzcut", "quiff"),
    "f": ("bob", "bun", "long_not_too_long", "straight_1", "straight_2", "mia_wallace", "frida",
          "braids", "curvy", "pixie"),
}  # fmt: skip
_HAIR_COLOURS = {
    "zh": ("#2c1b18", "#2c1b18", "#4a312c"),
    "en": ("#2c1b18", "#4a312c", "#724133", "#a55728", "#b58143", "#d6b370", "#c93305"),
}
_SKINS = {
    "zh": ("#ffdbb4", "#edb98a", "#edb98a", "#d08b5b"),
    "en": ("#ffdbb4", "#edb98a", "#d08b5b", "#ae5d29", "#614335"),
}
_CLOTHES = {
    "zh": ("collar_sweater", "shirt_crew_neck", "shirt_scoop_neck", "shirt_v_neck", "overall"),
    # no blazers: their jacket is one fixed dark colour, the body below would not match it
    "en": ("collar_sweater", "shirt_crew_neck", "shirt_v_neck", "shirt_scoop_neck", "overall"),
}
_BEARDS = ("beard_light", "beard_medium", "beard_magestic", "moustache_fancy")
_BROWS = ("default_natural", "flat_natural", "raised_excited_natural", "up_down_natural",
          "angry_natural", "sad_concerned_natural")  # fmt: skip
_MOUTHS = ("default", "smile", "serious", "twinkle")
_OLD = re.compile(
    r"老人|老者|老头|老翁|老汉|老太|老妇|老婆|老爷|翁|婆|爷爷|奶奶|太爷|祖|白发|白须|须|皓首|苍|\b(?:old|aged|elderly|grey|gray|white-haired"
    r"|grandmother|grandfather|grandpapa|grandmamma)\b",
    re.I,
)
_MONK = re.compile(r"僧|和尚|沙弥|尼姑|长老|罗汉|头陀")
_GLASSES = re.compile(r"眼镜|spectacles|glasses|eye-glass", re.I)
_BEARDED = re.compile(r"须|胡子|髯|beard|whiskers|moustache|mustache", re.I)


def design_for(persona: Persona, colour: str) -> dict[str, str]:
    """A character's drawing features, seeded by its name (never by chapter or shot)."""
    h = hashlib.sha256(persona.name.encode("utf-8")).digest()

    def pick(options: tuple[str, ...], k: int) -> str:
        return options[h[k] % len(options)]

    zh = bool(_CJK.search(persona.name))
    words = " ".join([persona.name, *persona.aliases, persona.appearance, *persona.traits])
    gender = persona.gender or ("m" if h[0] % 2 else "f")
    old = bool(_OLD.search(words))
    lang = "zh" if zh else "en"
    design = {
        "hair": pick(_HAIR[gender], 1),
        "hair_colour": "#e8e1e1" if old else pick(_HAIR_COLOURS[lang], 2),
        "skin": pick(_SKINS[lang], 3),
        "clothing": pick(_CLOTHES[lang], 4),
        "clothing_colour": colour,
        "facial_hair": "",
        "eyebrows": pick(_BROWS, 5),
        "mouth": pick(_MOUTHS, 6),
        "accessory": "round" if _GLASSES.search(words) else "",
    }
    if gender == "m" and (old or _BEARDED.search(words) or h[7] % 5 == 0):
        design["facial_hair"] = pick(_BEARDS, 8)
    if _MONK.search(persona.name + "".join(persona.aliases)):
        design["hair"] = "no_hair"
    return design


def continuity(personas: list[Persona], style: StyleBible) -> ContinuitySheet:
    """Colour and mark per persona name, in the personas' order; first of a duplicate wins."""
    bg = _rgb(normalise_colour(style.background, "background"))
    palette = [normalise_colour(c, "palette") for c in style.palette] or ["#e6b450"]
    names: list[str] = []
    colours: dict[str, str] = {}
    taken: list[RGB] = []
    for i, persona in enumerate(personas):
        name = persona.name.strip()
        if not name:
            raise NFError("NF-SKILL-001", "a persona has an empty name")
        if name in colours:
            continue
        try:
            base = _rgb(normalise_colour(persona.colour, "persona colour"))
        except NFError:
            base = _rgb(palette[i % len(palette)])
        chosen = _pick_colour(base, bg, taken)
        taken.append(chosen)
        colours[name] = _hex(chosen)
        names.append(name)
    first = {}
    for p in personas:
        first.setdefault(p.name.strip(), p)
    designs = {n: design_for(first[n], colours[n]) for n in names if first[n].person}
    return ContinuitySheet(
        character_colours=colours,
        character_marks=_marks(names),
        character_designs=designs,
        skill_version=VERSION,
    )
