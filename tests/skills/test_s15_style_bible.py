from __future__ import annotations

import pytest

from nf_skills import s15_style_bible
from nf_skills.s15_style_bible import normalise_colour, style_bible
from shared.errors import NFError


def test_defaults_per_language() -> None:
    zh = style_bible(None, "zh")
    assert (zh.width, zh.height) == (1280, 720)
    assert zh.font_family == "WenQuanYi Micro Hei"
    assert zh.caption_size == 32
    assert zh.skill_version == s15_style_bible.VERSION
    assert len(zh.palette) >= 6 and len(set(zh.palette)) == len(zh.palette)
    assert all(c.startswith("#") and len(c) == 7 for c in [*zh.palette, zh.background])
    en = style_bible({}, "en")
    assert en.font_family == "DejaVu Sans"
    assert en.palette == zh.palette and en.background == zh.background


def test_project_overrides_are_applied_and_normalised() -> None:
    s = style_bible(
        {"width": 1080, "aspect_ratio": "9:16", "palette": ["#ABC", "#aabbcc", "#102030"],
         "background": "#FFFFFF", "font_family": " Noto Sans CJK SC "},
        "zh",
    )  # fmt: skip
    assert (s.width, s.height) == (1080, 1920)
    assert s.palette == ["#aabbcc", "#102030"]  # '#ABC' and '#aabbcc' are one colour
    assert s.background == "#ffffff"
    assert s.font_family == "Noto Sans CJK SC"
    assert s.caption_size == round(1920 * s15_style_bible.CAPTION_SHARE)


def test_width_alone_keeps_the_default_aspect_and_even_sizes() -> None:
    s = style_bible({"width": 641}, "en")
    assert s.width == 640 and s.height == 360
    assert style_bible({"width": 640, "height": 481}, "en").height == 480


@pytest.mark.parametrize(
    "style",
    [
        {"widht": 100},
        {"palette": []},
        {"palette": ["red"]},
        {"background": "#12345"},
        {"width": 10},
        {"width": "wide"},
        {"aspect_ratio": "tall"},
        {"caption_size": 4},
        {"caption_size": 400},
        {"font_family": ""},
    ],
)
def test_bad_styles_are_refused(style: dict) -> None:
    with pytest.raises(NFError) as err:
        style_bible(style, "zh")
    assert err.value.code == "NF-SKILL-001"


def test_unknown_language_and_colour_normalisation() -> None:
    with pytest.raises(NFError):
        style_bible(None, "fr")  # type: ignore[arg-type]
    assert normalise_colour(" #F0a ") == "#ff00aa"
