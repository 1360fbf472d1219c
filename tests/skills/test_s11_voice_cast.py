from __future__ import annotations

from nf_skills import s11_voice_cast as s11
from nf_skills.contracts import Persona
from nf_skills.s11_voice_cast import cast_voices


def _p(name: str, gender: str | None = None, aliases: list[str] | None = None) -> Persona:
    return Persona(
        name=name,
        aliases=aliases or [],
        appearance="",
        traits=[],
        speech_style="",
        colour="#000000",
        skill_version="t",
        gender=gender,
    )


def test_narrator_first_and_one_voice_per_persona() -> None:
    ps = [_p("Alice", "f"), _p("Mr. Darcy"), _p("Hatter", "m"), _p("Queen")]
    vs = cast_voices(ps, "en")
    assert vs[0].character == "narrator" and vs[0].voice == "en"
    assert [v.character for v in vs[1:]] == ["Alice", "Mr. Darcy", "Hatter", "Queen"]
    by = {v.character: v for v in vs}
    assert "+f" in by["Alice"].voice and "+f" in by["Queen"].voice  # the Queen: a title
    assert "+m" in by["Mr. Darcy"].voice and "+m" in by["Hatter"].voice  # Mr.: an honorific
    assert all(v.voice.split("+")[0] in ("en", "en-us") for v in vs)
    assert by["Alice"].pitch > by["Hatter"].pitch
    assert all(0 <= v.pitch <= 99 and 80 <= v.rate <= 450 for v in vs)


def test_deterministic_and_independent_of_the_others() -> None:
    a = cast_voices([_p("孙悟空", "m"), _p("唐僧", "m")], "zh")
    b = cast_voices([_p("孙悟空", "m")], "zh")
    assert a == cast_voices([_p("孙悟空", "m"), _p("唐僧", "m")], "zh")
    assert a[1] == b[1]
    assert a[0].voice == "cmn" and a[1].voice.startswith("cmn+m")


def test_no_two_characters_share_voice_and_pitch() -> None:
    ps = [_p(f"角色{i}", "m") for i in range(40)]
    vs = cast_voices(ps, "zh")
    pairs = [(v.voice, v.pitch) for v in vs]
    assert len(set(pairs)) == len(pairs)
    assert s11.SKILL_ID == "SKILL_11"


def test_empty_cast_still_has_a_narrator() -> None:
    (only,) = cast_voices([], "zh")
    assert only.character == "narrator"
