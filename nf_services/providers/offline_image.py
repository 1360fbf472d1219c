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
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

from nf_services.media import figures
from nf_services.media.backdrops import Backdrop, ground_line, render_backdrop
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
@dataclass
class PanelLayout:
    """Where things were drawn: figure boxes (name, box, design hash) and every text box, so
    tests can check that text stays inside the frame and a character is drawn the same."""

    size: tuple[int, int]
    figures: list[tuple[str, tuple[int, int, int, int], str]] = field(default_factory=list)
    text_boxes: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)


class _Canvas:
    def __init__(self, img: Image.Image, palette: list[RGB]) -> None:
        self.w, self.h = img.size
        self.palette = palette
        self.img = img
        self.draw = ImageDraw.Draw(self.img, "RGBA")  # RGBA mode blends translucent fills
        self.unit = min(self.w, self.h)
        self.layout = PanelLayout(size=img.size)

    def font(self, px: float) -> Font:
        return load_font(max(8, round(px)))


def _design(name: str, designs: dict[str, dict], colours: dict[str, str]) -> dict:
    """The reference sheet's design, or one seeded by the name alone (old prompts, no sheet)."""
    if isinstance(designs.get(name), dict):
        return designs[name]
    colour = colours.get(name) or "#{:02x}{:02x}{:02x}".format(*_name_colour(name))
    h = hashlib.sha256(name.encode("utf-8")).digest()
    return {
        "hair": ("short_flat", "bob", "short_round", "bun", "caesar", "long_not_too_long")[
            h[1] % 6
        ],
        "hair_colour": ("#2c1b18", "#4a312c", "#724133")[h[2] % 3],
        "skin": ("#ffdbb4", "#edb98a", "#d08b5b")[h[3] % 3],
        "clothing": "shirt_crew_neck",
        "clothing_colour": colour,
    }


def _figures(
    c: _Canvas,
    framing: str,
    characters: list[str],
    designs: dict[str, dict],
    colours: dict[str, str],
    area: tuple[int, int, int],
    ground: int,
) -> None:
    """One drawn character per name (its cached bitmap), then their name labels on top."""
    top, bottom, label_floor = area
    shown = characters[: MAX_FIGURES[framing]]
    n = len(shown)
    if n == 0:
        return
    scene_h = bottom - top
    margin = c.w * (0.06 if framing == "wide" else 0.08)
    slot = (c.w - 2 * margin) / n
    labels = []
    for i, name in enumerate(shown):
        design = _design(name, designs, colours)
        cx = margin + slot * (i + 0.5)
        if framing == "close":
            # head and shoulders; a figure's width is ~0.94 of its bust height
            h = round(min(scene_h * 0.82, slot / 0.98))
            bm = figures.bust(design, h)
            x, y = round(cx - bm.width / 2), bottom - bm.height
        else:
            share = 0.4 if framing == "wide" else 1.15
            h = round(min(scene_h * share, slot / 0.47))
            bm = figures.figure(design, h)
            x = round(cx - bm.width / 2)
            # medium: cropped at the knees by the caption (or the frame's bottom) when the
            # figure is small enough to fit whole (a narrow 9:16 frame with several people)
            y = (
                ground - h
                if framing == "wide"
                else max(top + round(scene_h * 0.1), label_floor - round(h * 0.8))
            )
        c.img.paste(bm, (x, y), bm)
        c.layout.figures.append(
            (name, (x, y, x + bm.width, y + bm.height), figures.design_hash(design))
        )
        colour = _rgb(colours.get(name) or design.get("clothing_colour"), "#777777")
        # above the head in a wide shot, on the chest otherwise (under the chin for a close-up)
        label_y = (
            y - c.unit * 0.03
            if framing == "wide"
            else y + bm.height * (0.9 if framing == "close" else 0.62)
        )
        labels.append((cx, label_y, name, colour, bm.width))
    for cx, y, name, colour, fig_w in labels:
        font = c.font(max(c.unit * 0.03, min(fig_w * 0.16, c.unit * 0.045)))
        text = _fit(name, font, max(min(slot * 0.9, c.w * 0.9), c.unit * 0.12))
        fs = getattr(font, "size", 16)
        y = min(max(y, top + fs), label_floor - fs)
        if text:
            _label(c, cx, y, text, colour, font)
    hidden = len(characters) - n
    if hidden > 0:
        font = c.font(c.unit * 0.035)
        pos = (c.w - c.unit * 0.03, top + scene_h * 0.06)
        c.draw.text(pos, f"+{hidden}", font=font, fill=(250, 250, 250), anchor="rt",
                    stroke_width=2, stroke_fill=(20, 20, 20))  # fmt: skip
        c.layout.text_boxes.append(
            ("more", c.draw.textbbox(pos, f"+{hidden}", font=font, anchor="rt"))
        )


def _label(c: _Canvas, cx: float, y: float, text: str, colour: RGB, font: Font) -> None:
    d = c.draw
    pad = max(3, round(getattr(font, "size", 16) * 0.25))
    box = d.textbbox((cx, y), text, font=font, anchor="mm")
    # keep the whole box inside the frame: shift it in from an edge
    shift = max(0.0, pad + 2 - box[0]) - max(0.0, box[2] + pad + 2 - c.w)
    cx += shift
    box = d.textbbox((cx, y), text, font=font, anchor="mm")
    rect = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
    d.rounded_rectangle(
        rect, radius=pad, fill=(*colour, 235), outline=_mix(colour, (0, 0, 0), 0.45), width=2
    )
    d.text((cx, y), text, font=font, fill=_ink_on(colour), anchor="mm")
    c.layout.text_boxes.append(("label", rect))


def _header(c: _Canvas, shot_index: int | None, framing: str, title: str) -> int:
    band = round(c.h * 0.075 if c.w >= c.h else c.h * 0.05)
    accent = c.palette[0]
    c.draw.rectangle([0, 0, c.w, band], fill=(*accent, 225))
    font = c.font(band * 0.55)
    ink = _ink_on(accent)
    pad = round(c.unit * 0.025)
    badge = f"#{shot_index:02d}  {framing.upper()}" if shot_index is not None else framing.upper()
    badge = _fit(badge, font, c.w - 2 * pad)
    c.draw.text((pad, band / 2), badge, font=font, fill=ink, anchor="lm")
    c.layout.text_boxes.append(
        ("badge", c.draw.textbbox((pad, band / 2), badge, font=font, anchor="lm"))
    )
    if title:
        used = font.getlength(badge) + 3 * pad
        text = _fit(title, font, c.w - used - pad)
        if text:
            c.draw.text((c.w - pad, band / 2), text, font=font, fill=ink, anchor="rm")
            box = c.draw.textbbox((c.w - pad, band / 2), text, font=font, anchor="rm")
            c.layout.text_boxes.append(("title", box))
    return band


class _Caption:
    """The caption box laid out before drawing, so labels can stay clear of it."""

    def __init__(self, c: _Canvas, caption: str, size: int | None) -> None:
        # never taller than a quarter of the frame, whatever size the style asks for
        px = min(size or c.h / 24, c.h / (4 * CAPTION_MAX_LINES * 1.35 + 2), c.w / 12)
        self.font = c.font(px)
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
        c.layout.text_boxes.append(("caption", (m, self.top, c.w - m, c.h - m)))
        for i, line in enumerate(self.lines):
            y = self.top + pad + i * self.line_h + self.line_h / 2
            pos = (m + pad, y)
            c.draw.text(pos, line, font=self.font, fill=(255, 255, 255), anchor="lm")
            c.layout.text_boxes.append(
                ("caption_line", c.draw.textbbox(pos, line, font=self.font, anchor="lm"))
            )


def _backdrop(params: dict, title: str) -> Backdrop:
    raw = params.get("backdrop")
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            log.warning("backdrop is not valid JSON; drawing the default field")
            raw = None
    if not isinstance(raw, dict):
        raw = {"kind": "field", "key": title or "field"}
    return Backdrop.from_params(raw)


def compose_panel(prompt: str, params: dict) -> tuple[Image.Image, PanelLayout]:
    """The storyboard frame and where its parts went (no I/O)."""
    width = _int(params.get("width"), 1280)
    height = _int(params.get("height"), 720)
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"panel size {width}x{height} is outside 16..8192")
    framing = str(params.get("framing") or "medium").lower()
    if framing not in MAX_FIGURES:
        log.warning("unknown framing %r; drawing a medium shot", framing)
        framing = "medium"
    palette = [_rgb(p, "#555555") for p in _as_list(params.get("palette"))]
    palette += [ImageColor.getrgb(p)[:3] for p in DEFAULT_PALETTE[len(palette) :]]  # type: ignore[misc]
    characters = list(dict.fromkeys(_as_list(params.get("characters"))))
    colours = _as_dict(params.get("character_colours"))
    designs = _as_designs(params.get("character_designs"))
    caption = str(params.get("caption") or prompt or "")
    shot = params.get("shot_index")
    shot_index = _int(shot, 0) if shot not in (None, "") else None
    title = str(params.get("title") or "")
    size = _int(params.get("caption_size"), 0) or None

    backdrop = _backdrop(params, title)
    c = _Canvas(render_backdrop(backdrop, width, height).copy(), palette)  # type: ignore[arg-type]
    top = round(height * 0.075)
    cap = _Caption(c, caption, size)
    ground = min(ground_line(backdrop, height, width), cap.top)
    _figures(c, framing, characters, designs, colours, (top, height, cap.top), ground)
    _header(c, shot_index, framing, title)
    cap.draw(c)
    border = max(2, c.unit // 180)
    c.draw.rectangle([0, 0, width - 1, height - 1], outline=palette[0], width=border)
    return c.img, c.layout


def draw_panel(prompt: str, params: dict) -> Image.Image:
    """The storyboard frame as a Pillow image (no I/O), for the provider and for previews."""
    return compose_panel(prompt, params)[0]


def _as_designs(value: object) -> dict[str, dict]:
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            log.warning("character_designs is not valid JSON; using name-seeded designs")
            return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, dict)}


class OfflinePanelProvider:
    """ImageProvider that draws storyboard frames locally (no network, cost 0)."""

    name = "offline-pillow"
    model = "storyboard-panel-v2"

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
