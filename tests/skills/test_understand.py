from __future__ import annotations

from nf_skills import s04_summarize, s07_scenes, s08_dialogue, s12_settings
from nf_skills.contracts import Chapter, Character, CharacterList
from nf_skills.understand import understand_chapter
from tests.skills.understanding_corpus import corpus_chapters


def test_understand_a_small_chapter() -> None:
    cast = CharacterList(
        characters=[
            Character(name="孙悟空", aliases=["行者"], mentions=3),
            Character(name="猪八戒", aliases=["八戒"], mentions=2),
            Character(name="唐僧", aliases=["三藏"], mentions=1),
        ],
        skill_version="5.0.0",
    )
    text = (
        "行者在花果山水帘洞里操练群猴。行者道：“孩儿们，小心！”\n\n"
        "次日，八戒挑着担子来到水帘洞。八戒笑道：“哥哥好快活。”行者又笑了。"
    )
    u = understand_chapter(Chapter(index=4, title="第四回", text=text), cast, "zh")
    assert u.chapter_index == 4
    assert u.characters_present == ["孙悟空", "猪八戒"]  # by mentions; 唐僧 is absent
    assert [d.speaker for d in u.dialogue] == ["孙悟空", "猪八戒"]
    assert u.scenes[0].start == 0 and u.scenes[-1].end == len(text)
    assert any(s.name == "水帘洞" for s in u.settings)
    assert u.summary.sentences
    assert u.skill_versions == {
        "SKILL_04": s04_summarize.VERSION,
        "SKILL_07": s07_scenes.VERSION,
        "SKILL_08": s08_dialogue.VERSION,
        "SKILL_12": s12_settings.VERSION,
        "SKILL_05": "5.0.0",
    }


def test_understand_an_alice_chapter() -> None:
    from nf_skills.s05_characters import extract_characters

    chapters = list(corpus_chapters("en_alice_in_wonderland.txt"))
    cast = extract_characters(chapters, "en", top_n=20)
    u = understand_chapter(chapters[6], cast, "en")  # A Mad Tea-Party
    assert {"Alice", "Hatter", "Dormouse"} <= set(u.characters_present[:6])
    speakers = {d.speaker for d in u.dialogue}
    assert {"Alice", "Hatter", "Dormouse"} <= speakers
    assert len(u.summary.sentences) == 3
