"""Offline image provider: a storyboard frame drawn with Pillow.

Not a placeholder: the frame shows the shot's framing (a horizon and small figures for a wide
shot, waist-up figures for a medium shot, heads and shoulders for a close-up), one labelled
silhouette per character in its continuity colour, the shot number and title, and the caption
wrapped in a box at the bottom. Chinese text renders when a CJK font is installed. Equal input
gives byte-equal PNGs: all variation comes from a seed derived from the prompt and params.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import unicodedata
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

from nf_services.media.fonts import load_font
from nf_services.providers.base import ImageResult, Usage
from shared.errors import NFError

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

DEFAULT_BACKGROUND = "#efe6d2"  # paper
DEFAULT_PALETTE = ("#2f4858", "#8a9a5b", "#c7a76c", "#b5523b")
MAX_FIGURES = {"wide": 6, "medium": 4, "close": 2}
CAPTION_MAX_LINES = 3
# Characters that must not start a line (kinsoku): they stay with the previous character.
_NO_LINE_START = set("，。、；：！？）》」』”’…—,.;:!?)]}%")


# --- params ---------------------------------------------------------------------------------
def _as_list(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text) if str(v).strip()]
        except (json.JSONDecodeError, TypeError):
            pass
    return [part.strip() for part in text.split(",") if part.strip()]


def _as_dict(value: object) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            log.warning("character_colours is not valid JSON; using derived colours")
            return {}
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
    return {}


def _rgb(value: object, default: str) -> RGB:
    try:
        return ImageColor.getrgb(str(value))[:3]  # type: ignore[return-value]
    except (ValueError, TypeError):
        if value not in (None, ""):
            log.warning("invalid colour %r; using %s", value, default)
        return ImageColor.getrgb(default)[:3]  # type: ignore[return-value]


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _seed(prompt: str, params: dict) -> int:
    blob = json.dumps([prompt, params], sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big")


def _name_colour(name: str) -> RGB:
    """A stable mid-saturation colour for a character the continuity sheet did not colour."""
    h = hashlib.sha256(name.encode("utf-8")).digest()
    hue = h[0] / 255 * 360
    return ImageColor.getrgb(f"hsl({hue:.0f}, 55%, 45%)")[:3]  # type: ignore[return-value]


# --- colour helpers -------------------------------------------------------------------------
def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _luma(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _ink_on(c: RGB) -> RGB:
    return (20, 20, 20) if _luma(c) > 140 else (250, 250, 250)


# --- text -----------------------------------------------------------------------------------
def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _tokens(text: str) -> list[str]:
    """Breakable units: a CJK character each, a Latin word with its trailing space."""
    out: list[str] = []
    word = ""
    for ch in text:
        if _is_wide(ch) or ch in _NO_LINE_START and not word:
            if word:
                out.append(word)
                word = ""
            if ch in _NO_LINE_START and out:
                out[-1] += ch
            else:
                out.append(ch)
        elif ch == " ":
            out.append(word + " ")
            word = ""
        else:
            word += ch
    if word:
        out.append(word)
    return out


def wrap_text(text: str, font: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy wrap by rendered width; the last line ends in an ellipsis if text is left over."""
    text = " ".join(text.split())
    lines: list[str] = []
    line = ""
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        candidate = line + tok
        if line and font.getlength(candidate.rstrip()) > max_width:
            lines.append(line.rstrip())
            line = tok.lstrip()
            if len(lines) == max_lines:
                rest = "".join(tokens[i:])
                return _ellipsize(lines, rest, font, max_width)
        else:
            line = candidate
        while font.getlength(line.rstrip()) > max_width and len(line) > 1:
            # One unbreakable token wider than the box (a very long word): hard-split it.
            cut = len(line) - 1
            while cut > 1 and font.getlength(line[:cut]) > max_width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
            if len(lines) == max_lines:
                return _ellipsize(lines, line, font, max_width)
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _ellipsize(lines: list[str], rest: str, font: Font, max_width: float) -> list[str]:
    if not rest.strip():
        return lines
    last = lines[-1]
    while last and font.getlength(last + "…") > max_width:
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return lines


def _fit(text: str, font: Font, max_width: float) -> str:
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "…") > max_width:
        text = text[:-1]
    return text + "…" if text else ""


# --- drawing --------------------------------------------------------------------------------
class _Canvas:
    def __init__(self, width: int, height: int, background: RGB, palette: list[RGB]) -> None:
        self.w, self.h = width, height
        self.bg = background
        self.palette = palette
        self.img = Image.new("RGB", (width, height), background)
        self.draw = ImageDraw.Draw(self.img, "RGBA")  # RGBA mode blends translucent fills
        self.unit = min(width, height)

    def font(self, px: float) -> Font:
        return load_font(max(8, round(px)))


def _scenery(c: _Canvas, framing: str, top: int, bottom: int, rng: random.Random) -> int:
    """Draw the backdrop for the framing.

    Returns the y where figures stand for a wide shot, else where their heads start (medium and
    close shots crop figures at the bottom of the frame).
    """
    d = c.draw
    accent, ground, far = c.palette[0], c.palette[1], c.palette[2]
    scene_h = bottom - top
    if framing == "wide":
        horizon = top + round(scene_h * rng.uniform(0.55, 0.65))
        # Far hills: a few overlapping triangles in a colour faded toward the sky.
        hill = _mix(far, c.bg, 0.55)
        for _ in range(rng.randint(2, 4)):
            cx = rng.uniform(0, c.w)
            half = rng.uniform(0.12, 0.3) * c.w
            peak = horizon - rng.uniform(0.12, 0.3) * scene_h
            d.polygon([(cx - half, horizon), (cx, peak), (cx + half, horizon)], fill=hill)
        sun_r = round(c.unit * 0.05)
        sx, sy = rng.uniform(0.1, 0.9) * c.w, top + scene_h * rng.uniform(0.12, 0.3)
        d.ellipse([sx - sun_r, sy - sun_r, sx + sun_r, sy + sun_r], fill=_mix(accent, c.bg, 0.6))
        d.rectangle([0, horizon, c.w, bottom], fill=_mix(ground, c.bg, 0.35))
        d.line([(0, horizon), (c.w, horizon)], fill=accent, width=max(2, c.unit // 240))
        return horizon + round(scene_h * 0.2)
    if framing == "medium":
        # An interior-ish backdrop: a wall band and a window or door frame.
        wall_top = top + round(scene_h * 0.55)
        d.rectangle([0, wall_top, c.w, bottom], fill=_mix(ground, c.bg, 0.6))
        wx = rng.uniform(0.05, 0.75) * c.w
        ww, wh = c.w * 0.18, scene_h * 0.4
        wy = top + scene_h * 0.1
        d.rectangle([wx, wy, wx + ww, wy + wh], outline=_mix(far, c.bg, 0.3), width=4)
        d.line([(wx + ww / 2, wy), (wx + ww / 2, wy + wh)], fill=_mix(far, c.bg, 0.3), width=3)
        return top + round(scene_h * 0.2)
    # close: concentric halo behind the faces
    cx, cy = c.w / 2, top + scene_h * 0.5
    for i, t in enumerate((0.75, 0.85, 0.93)):
        r = scene_h * (0.62 - 0.14 * i)
        d.ellipse([cx - r * 1.6, cy - r, cx + r * 1.6, cy + r], fill=_mix(far, c.bg, t))
    return top + round(scene_h * 0.1)


def _figure(
    c: _Canvas, cx: float, feet: float, height: float, colour: RGB, mark: str
) -> tuple[float, float, float]:
    """Draw one silhouette; returns (shoulder_y, hip_y, torso_width) for placing its label."""
    d = c.draw
    outline = _mix(colour, (0, 0, 0), 0.45)
    lw = max(2, round(height / 120))
    top = feet - height
    head_d = height * 0.2
    shoulder_y = top + head_d * 1.08
    hip_y = top + height * 0.56
    torso_w = height * 0.3
    leg_w = torso_w * 0.32
    for side in (-1, 1):
        x = cx + side * torso_w * 0.2
        d.rectangle([x - leg_w / 2, hip_y, x + leg_w / 2, feet], fill=outline)
    d.polygon(
        [
            (cx - torso_w / 2, shoulder_y),
            (cx + torso_w / 2, shoulder_y),
            (cx + torso_w * 0.38, hip_y),
            (cx - torso_w * 0.38, hip_y),
        ],
        fill=colour,
        outline=outline,
        width=lw,
    )
    for side in (-1, 1):
        d.line(
            [
                (cx + side * torso_w / 2, shoulder_y + lw),
                (cx + side * torso_w * 0.62, top + height * 0.52),
            ],
            fill=outline,
            width=max(3, round(torso_w * 0.12)),
        )
    d.ellipse(
        [cx - head_d / 2, top, cx + head_d / 2, top + head_d],
        fill=_mix(colour, (255, 255, 255), 0.35),
        outline=outline,
        width=lw,
    )
    if mark:
        d.text((cx, top + head_d / 2), mark, font=c.font(head_d * 0.5), fill=outline, anchor="mm")
    return shoulder_y, hip_y, torso_w


def _label(c: _Canvas, cx: float, y: float, text: str, colour: RGB, font: Font) -> None:
    d = c.draw
    box = d.textbbox((cx, y), text, font=font, anchor="mm")
    pad = max(3, round(getattr(font, "size", 16) * 0.25))
    d.rounded_rectangle(
        [box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad],
        radius=pad,
        fill=(*colour, 235),
        outline=_mix(colour, (0, 0, 0), 0.45),
        width=2,
    )
    d.text((cx, y), text, font=font, fill=_ink_on(colour), anchor="mm")


def _figures(
    c: _Canvas,
    framing: str,
    characters: list[str],
    colours: dict[str, str],
    marks: dict[str, str],
    area: tuple[int, int, int],
    anchor: int,
    rng: random.Random,
) -> None:
    """Lay out one silhouette per character, then their name labels on top of all figures."""
    top, bottom, label_floor = area
    shown = characters[: MAX_FIGURES[framing]]
    scene_h = bottom - top
    n = len(shown)
    if n == 0:
        return
    margin = c.w * (0.08 if framing == "wide" else 0.12)
    slot = (c.w - 2 * margin) / n
    # A figure is ~0.37 of its height wide: pull back when many share the frame.
    base = min({"wide": 0.42, "medium": 1.25, "close": 2.1}[framing] * scene_h, slot / 0.4)
    labels = []
    for i, name in enumerate(shown):
        cx = margin + slot * (i + 0.5) + rng.uniform(-0.08, 0.08) * slot
        colour = _rgb(colours[name], "#777777") if name in colours else _name_colour(name)
        h = base * rng.uniform(0.95, 1.05)
        feet = anchor if framing == "wide" else anchor + h
        shoulder_y, hip_y, torso_w = _figure(c, cx, feet, h, colour, marks.get(name, "")[:2])
        y = shoulder_y + (hip_y - shoulder_y) * 0.45
        labels.append((cx, y, name, colour, torso_w))
    for cx, y, name, colour, torso_w in labels:
        font = c.font(max(c.unit * 0.03, min(torso_w * 0.22, c.unit * 0.05)))
        text = _fit(name, font, max(slot * 0.9, c.unit * 0.12))
        fs = getattr(font, "size", 16)
        y = min(max(y, top + fs), label_floor - fs)
        if text:
            _label(c, cx, y, text, colour, font)
    hidden = len(characters) - n
    if hidden > 0:
        font = c.font(c.unit * 0.035)
        c.draw.text(
            (c.w - c.unit * 0.03, top + scene_h * 0.06),
            f"+{hidden}",
            font=font,
            fill=_ink_on(c.bg),
            anchor="rt",
        )


def _header(c: _Canvas, shot_index: int | None, framing: str, title: str) -> int:
    band = round(c.h * 0.075)
    accent = c.palette[0]
    c.draw.rectangle([0, 0, c.w, band], fill=accent)
    font = c.font(band * 0.55)
    ink = _ink_on(accent)
    pad = round(c.unit * 0.025)
    badge = f"#{shot_index:02d}  {framing.upper()}" if shot_index is not None else framing.upper()
    c.draw.text((pad, band / 2), badge, font=font, fill=ink, anchor="lm")
    if title:
        used = font.getlength(badge) + 3 * pad
        text = _fit(title, font, c.w - used - pad)
        c.draw.text((c.w - pad, band / 2), text, font=font, fill=ink, anchor="rm")
    return band


class _Caption:
    """The caption box laid out before drawing, so labels can stay clear of it."""

    def __init__(self, c: _Canvas, caption: str, size: int | None) -> None:
        self.font = c.font(size or c.h / 24)
        fs = getattr(self.font, "size", 16)
        self.pad = round(fs * 0.6)
        self.margin = round(c.unit * 0.03)
        inner = c.w - 2 * self.margin - 2 * self.pad
        self.lines = wrap_text(caption, self.font, inner, CAPTION_MAX_LINES) if caption else []
        self.line_h = round(fs * 1.35)
        box_h = self.line_h * len(self.lines) + 2 * self.pad
        self.top = c.h - self.margin - box_h if self.lines else c.h

    def draw(self, c: _Canvas) -> None:
        if not self.lines:
            return
        m, pad = self.margin, self.pad
        c.draw.rounded_rectangle([m, self.top, c.w - m, c.h - m], radius=pad, fill=(0, 0, 0, 165))
        for i, line in enumerate(self.lines):
            y = self.top + pad + i * self.line_h + self.line_h / 2
            c.draw.text((m + pad, y), line, font=self.font, fill=(255, 255, 255), anchor="lm")


def draw_panel(prompt: str, params: dict) -> Image.Image:
    """The storyboard frame as a Pillow image (no I/O), for the provider and for previews."""
    width = _int(params.get("width"), 1280)
    height = _int(params.get("height"), 720)
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"panel size {width}x{height} is outside 16..8192")
    framing = str(params.get("framing") or "medium").lower()
    if framing not in MAX_FIGURES:
        log.warning("unknown framing %r; drawing a medium shot", framing)
        framing = "medium"
    background = _rgb(params.get("background"), DEFAULT_BACKGROUND)
    palette = [_rgb(p, "#555555") for p in _as_list(params.get("palette"))]
    palette += [ImageColor.getrgb(p)[:3] for p in DEFAULT_PALETTE[len(palette) :]]  # type: ignore[misc]
    characters = list(dict.fromkeys(_as_list(params.get("characters"))))
    colours = _as_dict(params.get("character_colours"))
    marks = _as_dict(params.get("character_marks"))
    caption = str(params.get("caption") or prompt or "")
    shot = params.get("shot_index")
    shot_index = _int(shot, 0) if shot not in (None, "") else None
    title = str(params.get("title") or "")
    size = _int(params.get("caption_size"), 0) or None

    rng = random.Random(_seed(prompt, params))
    c = _Canvas(width, height, background, palette)  # type: ignore[arg-type]
    top = round(height * 0.075)
    cap = _Caption(c, caption, size)
    anchor = _scenery(c, framing, top, height, rng)
    _figures(c, framing, characters, colours, marks, (top, height, cap.top), anchor, rng)
    _header(c, shot_index, framing, title)
    cap.draw(c)
    border = max(2, c.unit // 180)
    c.draw.rectangle([0, 0, width - 1, height - 1], outline=palette[0], width=border)
    return c.img


class OfflinePanelProvider:
    """ImageProvider that draws storyboard frames locally (no network, cost 0)."""

    name = "offline-pillow"
    model = "storyboard-panel-v1"

    def render(self, prompt: str, params: dict, out_path: Path) -> ImageResult:
        out_path = Path(out_path)
        tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
        try:
            img = draw_panel(prompt, params)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            # Level 1: ~25% faster to save than the default; the flat frames stay small.
            img.save(tmp, format="PNG", compress_level=1)
            os.replace(tmp, out_path)  # readers never see a half-written PNG
        except Exception as exc:  # Pillow and the OS raise many types; all mean "no image"
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise NFError("NF-MEDIA-003", f"panel render failed: {exc}") from exc
        usage = Usage(provider=self.name, model=self.model, units=1, unit="images")
        return ImageResult(path=out_path, width=img.width, height=img.height, usage=usage)
