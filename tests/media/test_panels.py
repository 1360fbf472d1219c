"""OfflinePanelProvider and the CJK font lookup: real PNGs, real CJK glyphs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from nf_services.media.fonts import KNOWN_LATIN_FONTS, draws_cjk, find_font, glyph_mask, load_font
from nf_services.providers.base import ImageProvider
from nf_services.providers.offline_image import OfflinePanelProvider, wrap_text
from shared.errors import NFError
from shared.media_probe import image_stats

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


def test_size_and_background_params(tmp_path: Path) -> None:
    res = OfflinePanelProvider().render(
        "x", _params(width=640, height=360, background="#102030"), tmp_path / "s.png"
    )
    assert (res.width, res.height) == (640, 360)
    with Image.open(res.path) as im:
        assert im.size == (640, 360)
        assert im.convert("RGB").getpixel((320, 40)) == (0x10, 0x20, 0x30)  # open sky


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
