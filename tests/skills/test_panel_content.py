"""What panels show (issue 14): only people are drawn, each shot carries its setting, and every
character has one design on the reference sheet (SKILL_13/14/19/20)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from nf_skills import _personhood, _scene_look, s19_continuity
from nf_skills.contracts import Persona
from nf_skills.s15_style_bible import style_bible
from tests.skills.planning_fixtures import en_case, persona, zh_case

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@lru_cache(maxsize=1)
def _aq() -> dict:
    """阿Q正传 through the real skills (SKILL_01..20) for its first three chapters."""
    from nf_skills import (
        gated_script,
        s01_ingest,
        s02_chapter_split,
        s05_characters,
        s09_render_plan,
        s11_voice_cast,
        s13_storyboard,
        s14_persona,
        s15_style_bible,
        s20_prompt_compile,
    )
    from nf_skills.understand import understand_chapter

    ing = s01_ingest.ingest((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes())
    split = s02_chapter_split.split_chapters(ing.text, ing.language)
    chars = s05_characters.extract_characters(split.chapters, "zh")
    chapters = split.chapters[:3]
    und = [understand_chapter(c, chars, "zh") for c in chapters]
    personas = s14_persona.build_personas(chars, und, chapters, "zh")
    voices = s11_voice_cast.cast_voices(personas, "zh")
    style = s15_style_bible.style_bible(None, "zh")
    sheet = s19_continuity.continuity(personas, style)
    boards, prompts = [], []
    for c, u in zip(chapters, und, strict=True):
        script, _ = gated_script.adapt_gated(c, u, personas, "zh")
        board = s13_storyboard.make_storyboard(script, u, personas=personas)
        plan = s09_render_plan.render_plan(
            board, script, style, sheet, budget_seconds=180,
            speech_rate=s09_render_plan.speech_rate_for("zh"),
        )  # fmt: skip
        boards.append(board)
        prompts += s20_prompt_compile.compile_prompts(plan, board, style, sheet, personas, voices)
    return {"chars": chars, "personas": personas, "sheet": sheet, "boards": boards,
            "prompts": prompts, "understanding": und}  # fmt: skip


def test_a_noun_taken_for_a_name_is_not_drawn() -> None:
    aq = _aq()
    # SKILL_05 still lists 籍贯 ("native place"), the text mentions it with 阿Q in chapters 1-2
    assert "籍贯" in [c.name for c in aq["chars"].characters]
    assert any("籍贯" in u.characters_present for u in aq["understanding"])
    cards = {p.name: p for p in aq["personas"]}
    assert cards["籍贯"].person is False and "no speech" in cards["籍贯"].person_evidence
    assert cards["阿Q"].person and cards["吴妈"].person
    drawn = {c for b in aq["boards"] for s in b.shots for c in s.characters}
    assert "阿Q" in drawn and "赵太爷" in drawn
    assert "籍贯" not in drawn and "布衫" not in drawn
    for p in aq["prompts"]:
        if p.kind == "image":
            assert "籍贯" not in p.params["characters"]
            assert "籍贯" not in json.loads(str(p.params["character_designs"]))
    assert "籍贯" not in aq["sheet"].character_designs


def test_person_evidence_rules() -> None:
    texts = ["阿Q便说道：“我们先前比你阔多啦！”吴妈楞了一息。阿Q的籍贯有些渺茫。阿Q又走了。"]
    ev = _personhood.evidence
    assert ev("阿Q", [], texts, "zh", speaks=False, gender=None).person  # acts (说, 走)
    assert not ev("籍贯", [], texts, "zh", speaks=False, gender=None).person
    # a pronoun-guessed gender is no evidence, a title is
    assert not ev("籍贯", [], texts, "zh", speaks=False, gender="m").person
    assert ev("赵太爷", [], ["赵太爷。"], "zh", speaks=False, gender="m").why == "title (m)"
    assert ev("Mrs. Long", [], ["Mrs. Long."], "en", speaks=False, gender=None).person
    # a verb taken for a name: speaks in the rules' eyes but never stands in a noun's slot
    verb = ["大圣高叫道：“开门！”" * 12]
    out = ev("高叫", [], verb, "zh", speaks=True, gender=None)
    assert not out.person and out.why.startswith("predicate")
    en = ["Alice said nothing. The Soup was hot. Soup of the evening, beautiful Soup!"]
    assert ev("Alice", [], en, "en", speaks=False, gender=None).person
    assert not ev("Soup", [], en, "en", speaks=False, gender=None).person


def test_every_shot_has_a_setting_and_settings_differ_between_places() -> None:
    aq = _aq()
    settings = [s.setting for b in aq["boards"] for s in b.shots]
    assert all(st is not None for st in settings)
    ch2 = {(s.setting.location, s.setting.kind) for s in aq["boards"][1].shots}
    assert ("土谷祠", "temple") in ch2  # a 祠 is a temple
    looks = {(st.kind, st.interior, st.time_of_day) for st in settings}
    assert len(looks) >= 2
    for p in aq["prompts"]:
        if p.kind == "image":
            bd = json.loads(str(p.params["backdrop"]))
            assert set(bd) == {"location", "kind", "interior", "time", "weather", "key"}
            assert "Setting:" in p.prompt


@pytest.mark.parametrize(
    ("location", "texts", "language", "expect"),
    [
        ("花果山", ["猴王坐在山顶"], "zh", ("mountain", False, "day", "clear")),
        ("水帘洞", ["洞中众猴"], "zh", ("cave", True, "day", "clear")),
        (None, ["当夜下起大雨，他在屋里点了灯，房里很暗。"], "zh", ("room", True, "night", "rain")),
        ("东海", ["海上起了大雾"], "zh", ("water", False, "day", "fog")),
        (None, ["They walked in the garden at sunset."], "en", ("forest", False, "dusk", "clear")),
        ("Netherfield Park", ["snow lay on the park"], "en", ("forest", False, "day", "snow")),
        (None, ["She sat in the drawing-room by the fire, the candle low."], "en",
         ("room", True, "night", "clear")),
        (None, ["nothing here"], "en", ("field", False, "day", "clear")),
    ],
)  # fmt: skip
def test_setting_words(location, texts, language, expect) -> None:
    st = _scene_look.shot_setting(location, texts, language)
    assert (st.kind, st.interior, st.time_of_day, st.weather) == expect
    assert st.location == location


def test_storyboard_shots_carry_settings_for_the_fixtures() -> None:
    from nf_skills.s10_script_adapt import adapt_script
    from nf_skills.s13_storyboard import make_storyboard

    for case, lang in ((zh_case, "zh"), (en_case, "en")):
        chapter, u, personas = case()
        board = make_storyboard(adapt_script(chapter, u, personas, lang), u, personas=personas)
        kinds = {s.setting.kind for s in board.shots}
        assert kinds and all(s.setting is not None for s in board.shots)
        if lang == "zh":  # 高山脚下 ... 破庙里: a mountain, then a temple's inside
            assert {"mountain"} & kinds


def test_designs_are_seeded_by_name_and_follow_the_persona() -> None:
    style = style_bible(None, "zh")
    people = [
        persona("孙悟空", gender="m"),
        persona("赵太爷", gender="m", appearance="白发"),
        persona("吴妈", gender="f"),
        persona("唐僧", gender="m"),
        persona("籍贯", person=False),
    ]
    sheet = s19_continuity.continuity(people, style)
    designs = sheet.character_designs
    assert set(designs) == {"孙悟空", "赵太爷", "吴妈", "唐僧"}
    assert designs["赵太爷"]["hair_colour"] == "#e8e1e1" and designs["赵太爷"]["facial_hair"]
    assert designs["唐僧"]["hair"] == "no_hair"  # a monk
    assert designs["吴妈"]["hair"] in s19_continuity._HAIR["f"]
    for name, d in designs.items():
        assert d["clothing_colour"] == sheet.character_colours[name]
    # the same persona in another book, order or chapter: the same drawing
    again = s19_continuity.continuity(list(reversed(people)), style).character_designs
    assert again["孙悟空"]["hair"] == designs["孙悟空"]["hair"]
    assert again["吴妈"] == {**designs["吴妈"], "clothing_colour": again["吴妈"]["clothing_colour"]}
    assert isinstance(people[0], Persona)
