from __future__ import annotations

import itertools

from nf_skills import s19_continuity
from nf_skills.s15_style_bible import style_bible
from nf_skills.s19_continuity import (
    MIN_CONTRAST,
    MIN_DELTA_E,
    _rgb,
    continuity,
    contrast,
    delta_e,
)
from tests.skills.planning_fixtures import persona


def _check(sheet, background: str) -> None:
    bg = _rgb(background)
    colours = list(sheet.character_colours.values())
    for c in colours:
        assert contrast(_rgb(c), bg) >= MIN_CONTRAST, c
    for a, b in itertools.combinations(colours, 2):
        assert delta_e(_rgb(a), _rgb(b)) >= MIN_DELTA_E, (a, b)


def test_good_persona_colours_are_kept() -> None:
    style = style_bible(None, "zh")
    sheet = continuity(
        [persona("孙悟空", colour="#E6B450"), persona("唐僧", colour="#5ccfe6")], style
    )
    assert sheet.character_colours == {"孙悟空": "#e6b450", "唐僧": "#5ccfe6"}
    assert sheet.skill_version == s19_continuity.VERSION


def test_clashing_and_unreadable_colours_are_adjusted() -> None:
    style = style_bible(None, "zh")  # dark background
    same = [persona(n, colour="#ff0000") for n in ["甲", "乙", "丙", "丁", "戊", "己"]]
    dark = [persona("夜叉", colour="#1b1f2a"), persona("黑熊", colour="#000000")]
    sheet = continuity(same + dark + [persona("坏色", colour="not a colour")], style)
    assert len(sheet.character_colours) == 9
    assert sheet.character_colours["甲"] == "#ff0000"  # the first keeps its colour
    _check(sheet, style.background)


def test_light_background_pushes_colours_darker() -> None:
    style = style_bible({"background": "#fafafa"}, "en")
    sheet = continuity(
        [persona("Alice", colour="#ffff66"), persona("Queen", colour="#ffffff")], style
    )
    _check(sheet, style.background)


def test_marks_short_and_unique() -> None:
    style = style_bible(None, "zh")
    names = ["孙悟空", "孙行者", "阿Q", "小D", "赵太爷", "赵白眼", "Mr. Darcy", "Mock Turtle",
             "Alice", "Ada", "Queen"]  # fmt: skip
    sheet = continuity([persona(n) for n in names], style)
    marks = sheet.character_marks
    assert marks["孙悟空"] == "孙" and marks["孙行者"] == "孙行"
    assert marks["阿Q"] == "Q" and marks["小D"] == "D"
    assert marks["赵太爷"] == "赵" and marks["赵白眼"] != "赵"
    assert marks["Mr. Darcy"] == "Da" and marks["Mock Turtle"] == "MT"
    assert marks["Alice"] == "A" and marks["Ada"] == "Ad"
    assert len(set(marks.values())) == len(names)
    assert all(len(m) <= 3 for m in marks.values())


def test_stable_and_first_duplicate_wins() -> None:
    style = style_bible(None, "zh")
    ps = [
        persona("甲", colour="#336699"),
        persona("乙", colour="#336699"),
        persona("甲", colour="#00ff00"),
    ]
    a = continuity(ps, style)
    assert a == continuity(ps, style)
    assert list(a.character_colours) == ["甲", "乙"]
    assert continuity(ps[:2], style) == a
