"""Procedural panel backgrounds: a scene's setting drawn with noise (pyfastnoiselite) and numpy.

A `Backdrop` says what the scene is (kind of place, inside or out, time of day, weather); its
`seed` comes from the location's name, so every panel of one setting shares the geometry (the
same ridges, the same room) while a different setting gets other shapes and, for another kind,
another composition. Time of day and weather only change the light and the overlays.

Speed: noise fields are made at a quarter of the frame size and scaled up (clouds, fog and
textures are soft anyway), ridges are 1-D noise; a 1280x720 backdrop takes tens of
milliseconds, and `render_backdrop` keeps the last ones per process because the shots of a scene
repeat them (see bench/bench_panels.py).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from pyfastnoiselite.pyfastnoiselite import FastNoiseLite, FractalType, NoiseType

KINDS = (
    "mountain", "water", "forest", "town", "road", "field", "palace", "temple", "sky",
    "room", "hall", "shop", "cave",
)  # fmt: skip
INTERIOR_KINDS = ("room", "hall", "shop", "cave")
TIMES = ("day", "dawn", "dusk", "night")
WEATHERS = ("clear", "rain", "snow", "fog")

# (sky top, sky at the horizon, light (sun/moon), ambient tint for the land)
_SKY = {
    "day": ((92, 146, 205), (198, 222, 238), (255, 246, 214), (1.0, 1.0, 1.0)),
    "dawn": ((96, 112, 170), (248, 196, 160), (255, 226, 190), (1.0, 0.92, 0.9)),
    "dusk": ((58, 56, 118), (242, 146, 96), (255, 180, 120), (0.85, 0.72, 0.72)),
    "night": ((10, 14, 36), (38, 50, 88), (236, 236, 214), (0.36, 0.4, 0.55)),
}
# base land colours per kind (near layer); far layers fade toward the horizon sky
_LAND = {
    "mountain": (86, 104, 92), "water": (84, 112, 96), "forest": (52, 96, 60),
    "town": (120, 110, 96), "road": (132, 118, 90), "field": (118, 142, 78),
    "palace": (110, 100, 92), "temple": (96, 108, 88), "sky": (236, 238, 246),
}  # fmt: skip
_WALL = {
    "room": (196, 176, 146),
    "hall": (150, 46, 40),
    "shop": (170, 132, 92),
    "cave": (92, 84, 78),
}
_FLOOR = {"room": (122, 92, 64), "hall": (96, 84, 76), "shop": (110, 84, 58), "cave": (64, 58, 54)}


@dataclass(frozen=True)
class Backdrop:
    kind: str = "field"
    interior: bool = False
    time: str = "day"
    weather: str = "clear"
    seed: int = 0

    @classmethod
    def from_params(cls, value: object) -> Backdrop:
        """From SKILL_20's params (a dict or its JSON); unknown words fall back to defaults."""
        data = value if isinstance(value, dict) else {}
        kind = str(data.get("kind") or "field")
        kind = kind if kind in KINDS else "field"
        interior = bool(data.get("interior")) or kind in INTERIOR_KINDS
        if interior and kind not in INTERIOR_KINDS:
            kind = {"palace": "hall", "temple": "hall", "town": "shop", "mountain": "cave"}.get(
                kind, "room"
            )
        time = str(data.get("time") or "day")
        weather = str(data.get("weather") or "clear")
        key = str(data.get("key") or data.get("location") or kind)
        return cls(
            kind=kind,
            interior=interior,
            time=time if time in TIMES else "day",
            weather=weather if weather in WEATHERS else "clear",
            seed=seed_of(key),
        )


def seed_of(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


# --- noise ------------------------------------------------------------------------------------
def _noise(seed: int, freq: float, octaves: int = 4) -> FastNoiseLite:
    n = FastNoiseLite(seed)
    n.noise_type = NoiseType.NoiseType_OpenSimplex2
    n.fractal_type = FractalType.FractalType_FBm
    n.fractal_octaves = octaves
    n.frequency = freq
    return n


def _field(
    seed: int, w: int, h: int, freq: float, octaves: int = 4, stretch: float = 1.0
) -> np.ndarray:
    """A 2-D noise field in [-1, 1], made at a quarter of the size and scaled up; `stretch` > 1
    elongates it horizontally (ripples on water)."""
    sw, sh = max(2, w // 4), max(2, h // 4)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    coords = np.stack([xs.ravel() / stretch, ys.ravel()])
    small = _noise(seed, freq * 4, octaves).gen_from_coords(coords).reshape(sh, sw)
    img = Image.fromarray(((small + 1) * 127.5).clip(0, 255).astype(np.uint8), "L")
    return np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.float32) / 127.5 - 1


def _line(seed: int, n: int, freq: float, octaves: int = 5) -> np.ndarray:
    coords = np.stack([np.arange(n, dtype=np.float32), np.zeros(n, dtype=np.float32)])
    return _noise(seed, freq, octaves).gen_from_coords(coords)


def _lerp(a, b, t):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return a + (b - a) * t


# --- layers -----------------------------------------------------------------------------------
def _sky(b: Backdrop, w: int, h: int, horizon: int) -> np.ndarray:
    top, low, light, _ = _SKY[b.time]
    t = np.clip(np.arange(h, dtype=np.float32) / max(1, horizon), 0, 1)[:, None, None]
    img = np.broadcast_to(_lerp(top, low, t), (h, w, 3)).copy()
    unit = min(w, h)
    rng = np.random.default_rng(b.seed)
    if b.weather in ("clear", "fog") or b.time == "night":
        # sun or moon with a soft glow
        cx, cy = w * rng.uniform(0.15, 0.85), horizon * rng.uniform(0.2, 0.45)
        r = unit * 0.05
        x0, x1 = max(0, int(cx - 8 * r)), min(w, int(cx + 8 * r))
        y0, y1 = max(0, int(cy - 8 * r)), min(h, int(cy + 8 * r))
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / r
        amount = np.clip(np.clip(1.6 - d, 0, 1) + np.exp(-(d**2) / 18) * 0.35, 0, 1)[..., None]
        img[y0:y1, x0:x1] = _lerp(img[y0:y1, x0:x1], light, amount)
    if b.time == "night":
        n = int(w * h / 2500)
        sx, sy = rng.integers(0, w, n), rng.integers(0, max(1, int(horizon * 0.85)), n)
        img[sy, sx] = _lerp(img[sy, sx], (235, 235, 220), rng.uniform(0.4, 1.0, n)[:, None])
    # clouds: thresholded noise, thicker when overcast
    cover = {"clear": 0.25, "fog": 0.1, "rain": -0.15, "snow": -0.05}[b.weather]
    band = max(1, horizon)  # clouds only above the horizon: the land covers the rest
    f = _field(b.seed + 11, w, band, 0.0035 * 1280 / max(w, 1), 5)
    amount = np.clip((f - cover) * 2.2, 0, 1)[..., None] * 0.85
    cloud = _lerp(light, (250, 250, 250), 0.5) if b.time != "night" else (70, 78, 104)
    if b.weather in ("rain", "snow"):
        cloud = (126, 130, 140) if b.time != "night" else (44, 48, 60)
    img[:band] = _lerp(img[:band], cloud, amount)
    return img


def _ridge(
    img: np.ndarray, seed: int, base: float, amp: float, freq: float, colour, h: int
) -> np.ndarray:
    """A land layer whose top edge is 1-D noise, darker toward the bottom; works on the rows
    below the highest point only. Returns the top-edge y per column."""
    w = img.shape[1]
    line = _line(seed, w, freq)
    line = (line - line.min()) / max(1e-6, float(line.max() - line.min()))  # use the full height
    edge = base - line * amp
    y0 = max(0, int(edge.min()))
    ys = np.arange(y0, h, dtype=np.float32)[:, None]
    mask = ys >= edge[None, :]
    shade = 1 - 0.3 * np.clip((ys - edge[None, :]) / max(1.0, h - base + amp), 0, 1)
    sub = img[y0:]
    col = np.asarray(colour, dtype=np.float32)
    for ch in range(3):  # per channel: no (rows, w, 3) temporaries
        plane = sub[..., ch]
        plane[mask] = (col[ch] * shade)[mask]
    return edge


def _land_colours(b: Backdrop, n: int, near) -> list[np.ndarray]:
    """n layers from far (faded into the horizon sky) to near (the kind's colour, time-tinted)."""
    _, low, _, tint = _SKY[b.time]
    base = np.asarray(near, dtype=np.float32) * np.asarray(tint, dtype=np.float32)
    return [_lerp(base, low, 0.75 * (1 - i / max(1, n - 1)) ** 1.3) for i in range(n)]


def _exterior(b: Backdrop, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(b.seed)
    horizon = int(h * (0.58 if w >= h else 0.5) + rng.uniform(-0.04, 0.04) * h)
    img = _sky(b, w, h, horizon)
    if b.kind == "sky":  # above the clouds: a floor of cloud banks instead of land
        for i, col in enumerate(_land_colours(b, 3, _LAND["sky"])):
            _ridge(img, b.seed + i, horizon + i * h * 0.12, h * 0.1, 0.012, col, h)
        return img
    scale = 1280 / max(w, 1)
    high = {"mountain": 0.42, "temple": 0.28, "palace": 0.2}.get(b.kind, 0.16)
    layers = 3 if b.kind == "mountain" else 2
    cols = _land_colours(b, layers + 1, _LAND.get(b.kind, _LAND["field"]))
    for i in range(layers):
        amp = h * high * (1 - i * 0.3)
        freq = (0.0022 if b.kind == "mountain" else 0.003) * scale * (1 + i)
        _ridge(img, b.seed + 101 + i, horizon + i * h * 0.04, amp, freq, cols[i], h)
    ground_col = cols[-1]
    if b.kind == "water":
        # the water plane below the horizon mirrors the sky, with horizontal ripples
        rows = h - horizon
        t = (np.arange(rows, dtype=np.float32) / max(1, rows))[:, None, None]
        top, low = (np.asarray(c, dtype=np.float32) for c in _SKY[b.time][:2])
        water = np.broadcast_to(_lerp(low * 0.85, top * 0.8, t), (rows, w, 3))
        ripple = _field(b.seed + 7, w, rows, 0.02 * scale, 2, stretch=8.0)
        img[horizon:] = _lerp(water, (245, 245, 240), (np.abs(ripple) < 0.06)[..., None] * 0.3)
        _ridge(img, b.seed + 201, h * 0.86, h * 0.05, 0.006 * scale, ground_col, h)  # near bank
    else:
        g0 = int(horizon + h * 0.08)
        tex = _field(b.seed + 9, w, h - g0, 0.01 * scale, 3)[..., None]
        img[g0:] = ground_col * (1 + tex * 0.08)
    return img


def _interior(b: Backdrop, w: int, h: int) -> np.ndarray:
    _, _, light, tint = _SKY[b.time]
    dim = np.asarray(tint, dtype=np.float32) * (0.55 if b.time == "night" else 1.0) + (
        0.35 if b.time == "night" else 0
    )
    floor_y = int(h * (0.66 if w >= h else 0.62))
    wall = np.asarray(_WALL[b.kind], dtype=np.float32)
    floor = np.asarray(_FLOOR[b.kind], dtype=np.float32)
    tex = _field(b.seed + 3, w, h, 0.006 * 1280 / max(w, 1), 4)[..., None]
    ys = np.arange(h, dtype=np.float32)[:, None, None]
    img = np.where(ys < floor_y, wall * (1 + tex * (0.25 if b.kind == "cave" else 0.06)), 0)
    depth = np.clip((ys - floor_y) / max(1, h - floor_y), 0, 1)
    img = np.where(ys >= floor_y, _lerp(floor * 0.8, floor * 1.1, depth) * (1 + tex * 0.05), img)
    return np.clip(img * dim, 0, 255)


def _furnish(b: Backdrop, im: Image.Image) -> None:
    """Shapes drawn over the interior arrays: windows, doors, columns, furniture silhouettes."""
    w, h = im.size
    d = ImageDraw.Draw(im, "RGBA")
    rng = np.random.default_rng(b.seed + 5)
    floor_y = int(h * (0.66 if w >= h else 0.62))
    sky_top, sky_low, light, _ = _SKY[b.time]
    dark = (40, 30, 24, 235) if b.time != "night" else (16, 12, 10, 240)
    if b.kind == "cave":
        # the cave mouth: a bright irregular opening showing the outside light
        cx, r = w * rng.uniform(0.25, 0.75), min(w, h) * 0.22
        pts = [
            (
                cx + math.cos(a) * r * rng.uniform(0.8, 1.2),
                floor_y - r * 0.9 + math.sin(a) * r * 0.9,
            )
            for a in np.linspace(0, 2 * math.pi, 14, endpoint=False)
        ]
        d.polygon(pts, fill=(*sky_low, 255))
        return
    unit = min(w, h)
    if b.kind == "hall":  # columns and a dais
        n = 4 if w >= h else 2
        for i in range(n):
            x = w * (i + 0.5) / n
            d.rectangle([x - unit * 0.035, 0, x + unit * 0.035, floor_y], fill=(180, 40, 34, 255))
            d.rectangle(
                [x - unit * 0.05, floor_y - unit * 0.02, x + unit * 0.05, floor_y], fill=dark
            )
        d.rectangle([0, 0, w, unit * 0.06], fill=(96, 60, 30, 255))
        d.rectangle([w * 0.3, floor_y - unit * 0.05, w * 0.7, floor_y], fill=(120, 84, 40, 255))
        return
    # windows show the sky of the time of day
    n_win = 1 if w < h else int(rng.integers(1, 3))
    for i in range(n_win):
        ww, wh = unit * rng.uniform(0.2, 0.28), unit * rng.uniform(0.22, 0.3)
        wx = w * (0.12 + i * 0.5 + rng.uniform(0, 0.12))
        wy = h * 0.14
        for k in range(int(wh)):
            t = k / max(1, wh)
            c = tuple(int(a + (bb - a) * t) for a, bb in zip(sky_top, sky_low, strict=True))
            d.line([(wx, wy + k), (wx + ww, wy + k)], fill=(*c, 255))
        frame = max(3, int(unit * 0.012))
        d.rectangle([wx, wy, wx + ww, wy + wh], outline=dark, width=frame)
        d.line([(wx + ww / 2, wy), (wx + ww / 2, wy + wh)], fill=dark, width=frame)
        d.line([(wx, wy + wh / 2), (wx + ww, wy + wh / 2)], fill=dark, width=frame)
    # a door
    dx = w * rng.uniform(0.7, 0.85) if w >= h else w * 0.72
    d.rectangle([dx, floor_y - unit * 0.42, dx + unit * 0.16, floor_y], fill=dark)
    # furniture: a table (and shelves or a counter for a shop), silhouettes near the wall
    if b.kind == "shop":
        d.rectangle([0, floor_y - unit * 0.14, w * 0.45, floor_y + unit * 0.02], fill=dark)
        for i in range(5):
            jx = w * 0.05 + i * unit * 0.07
            d.ellipse(
                [jx, floor_y - unit * 0.22, jx + unit * 0.05, floor_y - unit * 0.14], fill=dark
            )
    else:
        tx = w * rng.uniform(0.4, 0.6)
        d.rectangle([tx, floor_y - unit * 0.12, tx + unit * 0.3, floor_y - unit * 0.1], fill=dark)
        for leg in (tx + unit * 0.02, tx + unit * 0.27):
            d.rectangle(
                [leg, floor_y - unit * 0.1, leg + unit * 0.015, floor_y + unit * 0.02], fill=dark
            )
    if b.time == "night":  # a lamp's warm pool of light
        lx = w * rng.uniform(0.3, 0.7)
        d.ellipse(
            [lx - unit * 0.18, floor_y - unit * 0.34, lx + unit * 0.18, floor_y + unit * 0.02],
            fill=(255, 190, 90, 28),
        )
        d.ellipse(
            [lx - unit * 0.02, floor_y - unit * 0.2, lx + unit * 0.02, floor_y - unit * 0.14],
            fill=(255, 214, 120, 255),
        )


def _buildings(b: Backdrop, im: Image.Image) -> None:
    """Silhouettes for town, palace and temple exteriors, forest trees, a road."""
    w, h = im.size
    d = ImageDraw.Draw(im, "RGBA")
    rng = np.random.default_rng(b.seed + 17)
    unit = min(w, h)
    horizon = int(h * (0.58 if w >= h else 0.5))
    base_y = horizon + h * 0.08
    tint = _SKY[b.time][3]
    dark = tuple(int(c * t) for c, t in zip((70, 58, 52), tint, strict=True)) + (255,)
    lit = (255, 210, 120, 255) if b.time in ("night", "dusk") else (60, 50, 44, 255)
    if b.kind == "town":
        x = -rng.uniform(0, unit * 0.1)
        while x < w:
            bw, bh = unit * rng.uniform(0.12, 0.22), unit * rng.uniform(0.1, 0.22)
            d.rectangle([x, base_y - bh, x + bw, base_y], fill=dark)
            eave = bw * 0.12
            ridge = base_y - bh - unit * 0.05
            roof = [(x - eave, base_y - bh), (x + bw + eave, base_y - bh),
                    (x + bw * 0.8, ridge), (x + bw * 0.2, ridge)]  # fmt: skip
            d.polygon(roof, fill=tuple(int(c * 0.7) for c in dark[:3]) + (255,))
            for k in range(int(rng.integers(1, 3))):
                wx = x + bw * (0.2 + 0.4 * k)
                d.rectangle([wx, base_y - bh * 0.6, wx + bw * 0.18, base_y - bh * 0.35], fill=lit)
            x += bw + unit * rng.uniform(0.01, 0.05)
    elif b.kind in ("palace", "temple"):
        cx = w * rng.uniform(0.35, 0.65)
        tiers = 3 if b.kind == "palace" else int(rng.integers(4, 7))
        width = unit * (0.55 if b.kind == "palace" else 0.18)
        y = base_y
        wall = (160, 44, 36, 255) if b.kind == "palace" else dark
        for i in range(tiers):
            tw = width * (1 - i * (0.18 if b.kind == "palace" else 0.1))
            th = unit * (0.09 if b.kind == "palace" else 0.06)
            d.rectangle([cx - tw / 2, y - th, cx + tw / 2, y], fill=wall)
            ridge = y - th - unit * 0.045
            roof = [(cx - tw / 2 - unit * 0.05, y - th), (cx + tw / 2 + unit * 0.05, y - th),
                    (cx + tw * 0.35, ridge), (cx - tw * 0.35, ridge)]  # fmt: skip
            d.polygon(roof, fill=(52, 60, 70, 255))
            y -= th + unit * 0.045
    elif b.kind == "forest":
        for row, (n, scale) in enumerate(((14, 0.7), (9, 1.0))):
            for _ in range(n if w >= h else n // 2):
                x = rng.uniform(0, w)
                th = unit * rng.uniform(0.2, 0.32) * scale
                y0 = base_y + row * h * 0.05
                c = tuple(int(v * (0.75 + 0.25 * row)) for v in (34, 70, 40))
                c = tuple(int(v * t) for v, t in zip(c, tint, strict=True)) + (255,)
                d.polygon([(x, y0 - th), (x - th * 0.28, y0), (x + th * 0.28, y0)], fill=c)
    elif b.kind == "road":
        cx = w * rng.uniform(0.35, 0.65)
        road = tuple(int(c * t) for c, t in zip((176, 156, 118), tint, strict=True)) + (255,)
        d.polygon(
            [
                (cx - unit * 0.01, base_y),
                (cx + unit * 0.01, base_y),
                (cx + w * 0.35, h),
                (cx - w * 0.35, h),
            ],
            fill=road,
        )
    elif b.kind == "field":
        stripe = tuple(int(c * t) for c, t in zip((150, 164, 82), tint, strict=True)) + (90,)
        for i in range(6):
            y = base_y + (h - base_y) * (i / 6) ** 1.5
            d.line([(0, y), (w, y)], fill=stripe, width=max(2, int(unit * 0.006 * (1 + i))))


def _weather(b: Backdrop, arr: np.ndarray) -> np.ndarray:
    h, w, _ = arr.shape
    rng = np.random.default_rng(b.seed + 23)
    if b.weather == "fog":
        f = _field(b.seed + 31, w, h, 0.003 * 1280 / max(w, 1), 3)
        ys = np.arange(h, dtype=np.float32)[:, None]
        amount = np.clip(0.35 + 0.3 * f + 0.25 * (ys / h), 0, 0.85)[..., None]
        grey = (196, 198, 202) if b.time != "night" else (70, 74, 86)
        return _lerp(arr, grey, amount)
    if b.weather == "rain":
        arr = _lerp(arr, (110, 116, 128), 0.25)
        n = int(w * h / 900)
        x, y = rng.integers(0, w, n), rng.integers(0, h, n)
        length = max(6, int(min(w, h) * 0.03))
        for k in range(length):  # slanted streaks, vectorised per step
            xs, ys = np.clip(x + k // 3, 0, w - 1), np.clip(y + k, 0, h - 1)
            arr[ys, xs] = _lerp(arr[ys, xs], (215, 220, 230), 0.45)
        return arr
    if b.weather == "snow":
        n = int(w * h / 600)
        x, y = rng.integers(1, w - 1, n), rng.integers(1, h - 1, n)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            arr[y + dy, x + dx] = (248, 248, 252)
        ys = np.arange(h, dtype=np.float32)[:, None, None]
        return _lerp(arr, (236, 238, 244), np.clip((ys / h - 0.75) * 1.4, 0, 0.35))
    return arr


@lru_cache(maxsize=32)
def render_backdrop(b: Backdrop, width: int, height: int) -> Image.Image:
    """The backdrop as an RGB image; cached per process (callers must copy before drawing)."""
    arr = _interior(b, width, height) if b.interior else _exterior(b, width, height)
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if b.interior:
        _furnish(b, im)
    else:
        _buildings(b, im)
    arr = _weather(b, np.asarray(im, dtype=np.float32).copy())
    # 64 levels per channel: invisible in a flat illustration, halves the PNG (and the encoder's
    # work) because noise textures no longer differ in every low bit
    arr = np.clip(arr, 0, 255).astype(np.uint8) // 4 * 4 + 2
    im = Image.fromarray(arr, "RGB")
    if b.weather == "fog":
        im = im.filter(ImageFilter.BoxBlur(1))
    return im


def ground_line(b: Backdrop, height: int, width: int) -> int:
    """Where full figures stand in a wide shot: on the near ground, below the horizon."""
    if b.interior:
        return int(height * (0.86 if width >= height else 0.8))
    return int(height * (0.88 if width >= height else 0.78))
