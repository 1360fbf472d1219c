from __future__ import annotations

from nf_skills import s12_settings as s12
from nf_skills.contracts import Chapter
from nf_skills.s12_settings import extract_settings, locations_in
from tests.skills.understanding_corpus import corpus_chapters


def _ch(text: str) -> Chapter:
    return Chapter(index=1, title="t", text=text)


def test_zh_locations_and_props() -> None:
    text = (
        "行者回到花果山水帘洞，取出金箍棒。群猴都在水帘洞外等候。"
        "后来行者又去灵台方寸山拜师，手里仍拿着金箍棒。"
    ) * 2
    got = {(s.name, s.kind): s.mentions for s in extract_settings(_ch(text), "zh")}
    assert got[("水帘洞", "location")] == 4
    assert ("花果山", "location") in got
    assert got[("金箍棒", "prop")] == 4
    assert not any(name in ("行者", "群猴") for name, _k in got)


def test_en_locations_and_props() -> None:
    text = (
        "Elizabeth walked to Longbourn after tea. She stayed at Longbourn all day. "
        "Mr. Bingley had taken Netherfield Park. Alice found a little key in the hall, "
        "and the key opened a door into the garden. She drank from the bottle in the hall."
    )
    got = {(s.name, s.kind): s.mentions for s in extract_settings(_ch(text), "en")}
    assert got[("Longbourn", "location")] == 2
    assert ("Netherfield Park", "location") in got
    assert got[("the hall", "location")] == 2
    assert ("the garden", "location") in got
    assert got[("key", "prop")] == 2
    assert ("Elizabeth", "location") not in got and ("Bingley", "location") not in got


def test_sorted_by_kind_then_mentions_and_versioned() -> None:
    text = "他到了花果山，又到了花果山，再到水帘洞。手持金箍棒。" * 3
    out = extract_settings(_ch(text), "zh")
    kinds = [s.kind for s in out]
    assert kinds == sorted(kinds, key=lambda k: k != "location")
    locs = [s.mentions for s in out if s.kind == "location"]
    assert locs == sorted(locs, reverse=True)
    assert locations_in(text, "zh")[0] == "花果山"
    assert s12.SKILL_ID == "SKILL_12"


def test_corpus_chapter_one_of_xiyouji() -> None:
    ch = corpus_chapters("zh_xiyouji.txt")[0]
    names = {s.name for s in extract_settings(ch, "zh") if s.kind == "location"}
    assert {"花果山", "水帘洞"} & names
