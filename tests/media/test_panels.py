"""OfflinePanelProvider and the CJK font lookup: real PNGs, real CJK glyphs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from nf_services.media import figures
from nf_services.media.backdrops import Backdrop, render_backdrop
from nf_services.media.fonts import KNOWN_LATIN_FONTS, draws_cjk, find_font, glyph_mask, load_font
from nf_services.media.reference_sheet import draw_reference_sheet, store_reference_sheet
from nf_services.providers.base import ImageProvider
from nf_services.providers.offline_image import OfflinePanelProvider, compose_panel, wrap_text
from nf_skills.contracts import ContinuitySheet
from shared.errors import NFError
from shared.media_probe import image_stats
from shared.storage import LocalArtifactStore

CAPTION = "孙悟空大闹天宫，玉帝急调天兵天将前来捉拿。"


def _params(**kw: object) -> dict:
    base: dict = {
        "framing": "wide",
        "characters": ["孙悟空", "唐僧"],
        "character_colours": json.dumps({"孙悟空": "#c0392b", "唐僧": "#1f77b4"}),
        "caption": CAPTION,
        "shot_index": 3,
        "title": "第七回　八卦炉中逃大圣",
    }
    base.update(kw)
    return base


def test_font_draws_cjk_glyphs_not_tofu() -> None:
    choice = find_font()
    assert choice.cjk, f"no CJK font found (setup installs fonts-wqy-microhei): {choice}"
    font = load_font(40)
    a, b = glyph_mask(font, "永"), glyph_mask(font, "国")
    tofu = glyph_mask(font, "\U0010fffd")  # a private-use code point no font draws
    assert a and b
    assert a != b
    assert a != tofu and b != tofu
    assert draws_cjk(font)


def test_cjk_check_rejects_a_latin_only_font() -> None:
    latin = next((p for p in KNOWN_LATIN_FONTS if Path(p).is_file()), None)
    if latin is None:
        pytest.skip("no DejaVu font to compare against")
    assert not draws_cjk(ImageFont.truetype(latin, 40))


def test_render_writes_a_real_panel(tmp_path: Path) -> None:
    provider = OfflinePanelProvider()
    assert isinstance(provider, ImageProvider)
    res = provider.render("prompt", _params(), tmp_path / "p.png")
    assert res.path.is_file() and (res.width, res.height) == (1280, 720)
    assert res.usage.provider == "offline-pillow"
    assert (res.usage.units, res.usage.unit, res.usage.cost_usd) == (1, "images", 0.0)
    with Image.open(res.path) as im:
        assert im.format == "PNG" and im.size == (1280, 720)
    assert image_stats(res.path).std > 20


def test_render_is_deterministic_and_input_sensitive(tmp_path: Path) -> None:
    p = OfflinePanelProvider()
    a = p.render("x", _params(), tmp_path / "a.png").path.read_bytes()
    b = p.render("x", _params(), tmp_path / "b.png").path.read_bytes()
    c = p.render("x", _params(framing="close"), tmp_path / "c.png").path.read_bytes()
    assert a == b
    assert a != c


def test_caption_renders_distinct_cjk_text(tmp_path: Path) -> None:
    # Two captions of equal length: with tofu boxes the caption areas would be identical.
    p = OfflinePanelProvider()
    one = p.render("x", _params(caption="孙悟空"), tmp_path / "1.png").path
    two = p.render("x", _params(caption="唐三藏"), tmp_path / "2.png").path
    box = (0, 600, 1280, 720)
    with Image.open(one) as a, Image.open(two) as b:
        ca = np.asarray(a.convert("L").crop(box), dtype=np.int16)
        cb = np.asarray(b.convert("L").crop(box), dtype=np.int16)
    assert (ca > 200).sum() > 200  # white caption text is present
    assert np.abs(ca - cb).sum() > 10_000


def _count_colour(path: Path, rgb: tuple[int, int, int]) -> int:
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    return int(np.all(arr == rgb, axis=-1).sum())


@pytest.mark.parametrize("framing", ["wide", "medium", "close"])
def test_characters_drawn_in_their_continuity_colour(tmp_path: Path, framing: str) -> None:
    p = OfflinePanelProvider()
    colours = {"孙悟空": "#c0392b"}
    with_char = p.render(
        "x",
        _params(framing=framing, characters=["孙悟空"], character_colours=colours),
        tmp_path / "w.png",
    ).path
    without = p.render(
        "x", _params(framing=framing, characters=[], character_colours=colours), tmp_path / "n.png"
    ).path
    assert _count_colour(with_char, (0xC0, 0x39, 0x2B)) > 500
    assert _count_colour(without, (0xC0, 0x39, 0x2B)) == 0


def test_size_params(tmp_path: Path) -> None:
    res = OfflinePanelProvider().render("x", _params(width=640, height=360), tmp_path / "s.png")
    assert (res.width, res.height) == (640, 360)
    with Image.open(res.path) as im:
        assert im.size == (640, 360)


def test_wrap_text_limits_lines_and_ellipsizes() -> None:
    font = load_font(30)
    lines = wrap_text(CAPTION * 6, font, 600, 3)
    assert len(lines) == 3
    assert lines[-1].endswith("…")
    assert all(font.getlength(line) <= 600 for line in lines)
    assert not any(line.startswith(("，", "。")) for line in lines)
    latin = wrap_text("the quick brown fox jumps over the lazy dog " * 3, font, 400, 10)
    assert " ".join(latin).split() == ("the quick brown fox jumps over the lazy dog " * 3).split()


def test_invalid_size_raises_media_003(tmp_path: Path) -> None:
    with pytest.raises(NFError) as err:
        OfflinePanelProvider().render("x", _params(width=0), tmp_path / "bad.png")
    assert err.value.code == "NF-MEDIA-003"


def test_unwritable_path_raises_media_003(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(NFError) as err:
        OfflinePanelProvider().render("x", _params(), blocker / "p.png")
    assert err.value.code == "NF-MEDIA-003"


# --- issue 14: settings, consistent characters, text inside the frame ---------------------------
DESIGN = {
    "hair": "short_round",
    "hair_colour": "#2c1b18",
    "skin": "#edb98a",
    "clothing": "shirt_crew_neck",
    "clothing_colour": "#c0392b",
    "facial_hair": "",
    "eyebrows": "default_natural",
    "mouth": "smile",
    "accessory": "",
}


def _backdrop(**kw: object) -> str:
    base = {
        "kind": "mountain",
        "interior": False,
        "time": "day",
        "weather": "clear",
        "key": "花果山",
    }
    base.update(kw)
    return json.dumps(base, ensure_ascii=False)


def _mean_rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0)


def test_backgrounds_of_different_settings_differ() -> None:
    temple = render_backdrop(Backdrop.from_params({"kind": "temple", "key": "土谷祠"}), 640, 360)
    room = render_backdrop(
        Backdrop.from_params({"kind": "room", "interior": True, "time": "night", "key": "屋"}),
        640,
        360,
    )
    water = render_backdrop(Backdrop.from_params({"kind": "water", "key": "东海"}), 640, 360)
    a, b, c = (np.asarray(im, dtype=np.int16) for im in (temple, room, water))
    # whole-frame statistics: different palettes and compositions, not a few pixels
    assert np.abs(_mean_rgb(temple) - _mean_rgb(room)).sum() > 60
    assert np.abs(a - b).mean() > 40
    assert np.abs(a - c).mean() > 20
    # the lower half (land vs water) differs between the two exteriors
    assert np.abs(a[200:] - c[200:]).mean() > 20


def test_same_setting_reproduces_and_time_changes_only_the_light() -> None:
    spec = {"kind": "town", "key": "未庄"}
    one = np.asarray(render_backdrop(Backdrop.from_params(spec), 320, 180)).copy()
    render_backdrop.cache_clear()
    two = np.asarray(render_backdrop(Backdrop.from_params(spec), 320, 180))
    assert np.array_equal(one, two)
    other_place = np.asarray(
        render_backdrop(Backdrop.from_params({**spec, "key": "城里"}), 320, 180)
    )
    assert not np.array_equal(one, other_place)
    night = render_backdrop(Backdrop.from_params({**spec, "time": "night"}), 320, 180)
    assert _mean_rgb(night).sum() < _mean_rgb(Image.fromarray(one)).sum() - 100


@pytest.mark.parametrize("weather", ["rain", "snow", "fog"])
def test_weather_overlays_change_the_frame(weather: str) -> None:
    clear = np.asarray(render_backdrop(Backdrop.from_params({"kind": "field"}), 320, 180))
    wet = np.asarray(
        render_backdrop(Backdrop.from_params({"kind": "field", "weather": weather}), 320, 180)
    )
    assert np.abs(clear.astype(np.int16) - wet).mean() > 5


def test_unknown_backdrop_words_fall_back() -> None:
    b = Backdrop.from_params({"kind": "volcano", "time": "teatime", "weather": "hail"})
    assert (b.kind, b.time, b.weather) == ("field", "day", "clear")
    assert Backdrop.from_params({"kind": "palace", "interior": True}).kind == "hall"


def _panel(**kw: object) -> tuple[Image.Image, object]:
    params = _params(
        characters=["孙悟空"],
        character_colours=json.dumps({"孙悟空": "#c0392b"}),
        character_designs=json.dumps({"孙悟空": DESIGN}, ensure_ascii=False),
        framing="medium",
    )
    params.update(kw)
    return compose_panel("x", params)


def _opaque_crop(img: Image.Image, box: tuple[int, int, int, int], mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(img.convert("RGB").crop(box), dtype=np.int16)
    return arr[mask]


def test_same_character_is_drawn_identically_across_panels_and_chapters() -> None:
    a, la = _panel(title="第一回", caption="第一回的话", backdrop=_backdrop(), shot_index=1)
    b, lb = _panel(
        title="第七回",
        caption="另一回的另一句话",
        backdrop=_backdrop(kind="room", interior=True, time="night", key="水帘洞"),
        shot_index=9,
    )
    (na, box_a, hash_a), (nb, box_b, hash_b) = la.figures[0], lb.figures[0]
    assert na == nb == "孙悟空" and hash_a == hash_b
    assert (box_a[2] - box_a[0], box_a[3] - box_a[1]) == (box_b[2] - box_b[0], box_b[3] - box_b[1])
    bitmap = figures.figure(DESIGN, box_a[3] - box_a[1])
    assert bitmap is figures.figure(dict(DESIGN), box_a[3] - box_a[1])  # cached per design
    # every opaque pixel of the character inside the frame is the same in both panels
    x0, y0, x1, y1 = box_a
    # above both captions (their text differs; the caption box is drawn over the figure)
    cap = min(int(box[1]) for lay in (la, lb) for k, box in lay.text_boxes if k == "caption")
    visible = (max(0, x0), max(0, y0), min(1280, x1), min(cap, y1))
    alpha = np.asarray(bitmap)[..., 3]
    mask = alpha[visible[1] - y0 : visible[3] - y0, visible[0] - x0 : visible[2] - x0] == 255
    assert mask.sum() > 20_000
    box_b_vis = (visible[0] - x0 + box_b[0], visible[1] - y0 + box_b[1],
                 visible[2] - x0 + box_b[0], visible[3] - y0 + box_b[1])  # fmt: skip
    assert np.array_equal(_opaque_crop(a, visible, mask), _opaque_crop(b, box_b_vis, mask))
    # and a different design is a different drawing
    other = dict(DESIGN, hair="bun", clothing_colour="#1f77b4")
    assert figures.design_hash(other) != hash_a
    assert not np.array_equal(
        np.asarray(figures.figure(other, 300)), np.asarray(figures.figure(DESIGN, 300))
    )


def test_a_character_without_design_is_still_seeded_by_name() -> None:
    _, one = _panel(character_designs="{}", caption="甲")
    _, two = _panel(character_designs="not json", caption="乙", title="别的章")
    assert one.figures[0][2] == two.figures[0][2]


LONG_CAPTION = "孙悟空大闹天宫，玉帝急调天兵天将前来捉拿，" * 12 + "Supercalifragilistic" * 4
LONG_NAMES = ["齐天大圣孙悟空美猴王弼马温", "Mr. Fitzwilliam Darcy of Pemberley", "唐僧", "猪八戒"]


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (640, 360), (360, 640)])
@pytest.mark.parametrize("framing", ["wide", "medium", "close"])
def test_text_never_leaves_the_frame(size: tuple[int, int], framing: str) -> None:
    w, h = size
    img, layout = compose_panel(
        "x",
        _params(
            width=w,
            height=h,
            framing=framing,
            characters=LONG_NAMES,
            character_colours="{}",
            caption=LONG_CAPTION,
            title="第七回　八卦炉中逃大圣　五行山下定心猿　" * 3,
            caption_size=round(h * 0.045),
            shot_index=12,
        ),
    )
    assert img.size == (w, h)
    kinds = {k for k, _ in layout.text_boxes}
    assert {"caption", "caption_line", "badge", "title", "label"} <= kinds
    for kind, (x0, y0, x1, y1) in layout.text_boxes:
        assert 0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h, (kind, (x0, y0, x1, y1), size)
    caption_top = next(box[1] for k, box in layout.text_boxes if k == "caption")
    assert caption_top >= h * 0.7  # the caption keeps most of the frame for the picture
    lines = [box for k, box in layout.text_boxes if k == "caption_line"]
    assert 1 <= len(lines) <= 3


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280)])
def test_figures_stay_inside_the_width_at_both_aspect_ratios(size: tuple[int, int]) -> None:
    w, h = size
    for framing in ("wide", "medium", "close"):
        _, layout = compose_panel(
            "x",
            _params(width=w, height=h, framing=framing, characters=["孙悟空", "唐僧", "猪八戒"]),
        )
        assert layout.figures
        for _, (x0, _y0, x1, _y1), _ in layout.figures:
            assert 0 <= x0 and x1 <= w


def test_reference_sheet_shows_each_designed_character(tmp_path: Path) -> None:
    sheet = ContinuitySheet(
        character_colours={"孙悟空": "#c0392b", "唐僧": "#1f77b4"},
        character_marks={"孙悟空": "孙", "唐僧": "唐"},
        character_designs={
            "孙悟空": DESIGN,
            "唐僧": dict(DESIGN, hair="no_hair", clothing_colour="#1f77b4"),
        },
        skill_version="test",
    )
    img = draw_reference_sheet(sheet)
    assert img.size == (2 * 220, 330)
    left, right = (np.asarray(img.crop((x, 0, x + 220, 280)), dtype=np.int16) for x in (0, 220))
    assert np.abs(left - right).mean() > 3  # two different drawings
    # the sheet cell holds the very bitmap the panels paste
    fig = np.asarray(figures.figure(DESIGN, 260))
    opaque = fig[..., 3] == 255
    x = (220 - fig.shape[1]) // 2
    cell = np.asarray(img)[10 : 10 + fig.shape[0], x : x + fig.shape[1]]
    assert np.array_equal(cell[opaque], fig[..., :3][opaque])
    art = store_reference_sheet(sheet, LocalArtifactStore(tmp_path).spec)
    assert art is not None and art.kind == "png" and (tmp_path / art.path).is_file()
    empty = sheet.model_copy(update={"character_designs": {}})
    assert store_reference_sheet(empty, LocalArtifactStore(tmp_path).spec) is None
