"""SKILL_08 / SKILL_05 general rules (issue 12), on short synthetic texts, plus a regression
floor on the public dev gold (skipped when ../shared/dialogue is absent)."""

from __future__ import annotations

import pathlib

import pytest

from nf_skills.contracts import Chapter, Character, CharacterList
from nf_skills.s05_characters import extract_characters
from nf_skills.s08_dialogue import attribute_dialogue


def _cl(*groups: tuple[str, ...]) -> CharacterList:
    chars = [Character(name=g[0], aliases=list(g[1:]), mentions=10) for g in groups]
    return CharacterList(characters=chars, skill_version="test")


def _speakers(text: str, cast: CharacterList, lang: str = "en") -> list[str | None]:
    return [
        d.speaker for d in attribute_dialogue(Chapter(index=1, title="t", text=text), cast, lang)
    ]


EN = _cl(
    ("Mr. Bennet",), ("Mrs. Bennet",), ("Lydia",), ("Kitty", "Katharine"), ("Jane",),
    ("Hastings",), ("Poirot",), ("Thérèse",), ("White Rabbit", "Rabbit"), ("King",),
)  # fmt: skip


def test_en_honorific_never_ends_a_sentence() -> None:
    text = "The girls stared at their father. Mrs. Bennet said only, “Nonsense!”"
    assert _speakers(text, EN) == ["Mrs. Bennet"]


def test_en_tag_separated_from_the_name_by_clauses() -> None:
    text = "Lydia, who, flying to her, cried, “Oh! Jane, I am so happy!”"
    assert _speakers(text, EN) == ["Lydia"]
    text = "The King looked anxiously at the White Rabbit, who said in a low voice, “Go on.”"
    assert _speakers(text, EN) == ["White Rabbit"]


def test_en_subject_not_object_of_the_speech_verb() -> None:
    text = "Jane sat down.\n\nShe saw Katharine and exclaimed, “You here!”"
    assert _speakers(text, EN) == ["Jane"]
    text = "Lydia turned to Jane and said, “Come!”"
    assert _speakers(text, EN) == ["Lydia"]


def test_en_inflected_verbs_and_non_character_tags() -> None:
    assert _speakers("Kitty began, remarking, “It is late.”", EN) == ["Kitty"]
    # a tag that names no known character marks someone else: no guess from the run
    text = "“Who is there?” said Jane.\n\n“Only me,” said a voice.\n\n“Come in.”"
    assert _speakers(text, EN) == ["Jane", None, None]


def test_en_first_person_narrator_is_a_character() -> None:
    text = (
        "“Are you coming, Hastings?” said Poirot.\n\n"
        "“In a moment,” I replied.\n\n"
        "“Hurry, Hastings!” said Poirot.\n\n"
        "“Yes,” I said."
    )
    assert _speakers(text, EN) == ["Poirot", "Hastings", "Poirot", "Hastings"]


def test_en_conversation_alternates_from_one_known_speaker() -> None:
    text = (
        "Mr. Bennet looked up from his book at Lydia.\n\n"
        "“Well?” said Mr. Bennet.\n\n"
        "“I want to go to Brighton.”\n\n"
        "“You shall not.”\n\n"
        "“But everybody goes!”"
    )
    assert _speakers(text, EN) == ["Mr. Bennet", "Lydia", "Mr. Bennet", "Lydia"]


def test_en_vocative_names_the_next_speaker_and_narration_resets() -> None:
    text = (
        "“Do you agree, Jane?” said Lydia.\n\n"
        "“I do.”\n\n"
        "The rain went on for an hour and nobody moved. The candles burned down one by one, "
        "the fire sank to embers, the clock in the hall struck ten and then eleven, and still "
        "the house kept its silence, as if waiting for somebody to come up the drive.\n\n"
        "“Is it over?”"
    )
    got = attribute_dialogue(Chapter(index=1, title="t", text=text), EN, "en")
    assert [d.speaker for d in got] == ["Lydia", "Jane", None]  # a long narration resets
    assert got[1].rule in ("addressed", "alternation") and 0 < got[1].confidence < 0.95
    assert got[0].rule == "tag" and got[0].confidence >= 0.9


def test_en_short_narration_beat_keeps_the_conversation_going() -> None:
    # a short beat without a name keeps the alternation; one opening with a name is that
    # person's (non-verbal) turn, so the next line is the other's
    text = (
        "“Do you agree, Jane?” said Lydia.\n\n"
        "“I do.”\n\n"
        "This was answer enough.\n\n"
        "“Then we go tomorrow.”"
    )
    assert _speakers(text, EN) == ["Lydia", "Jane", "Lydia"]
    text = (
        "“Do you agree, Jane?” said Lydia.\n\n"
        "Jane nodded.\n\n"
        "“Then we go tomorrow.”\n\n"
        "“If you wish.”"
    )
    assert _speakers(text, EN) == ["Lydia", "Lydia", "Jane"]


def test_en_italics_and_line_breaks_inside_a_quote() -> None:
    text = "“I did _not_ say so; I said\n_nothing_ of the kind,” said Kitty."
    lines = attribute_dialogue(Chapter(index=1, title="t", text=text), EN, "en")
    assert len(lines) == 1 and lines[0].speaker == "Kitty"


def test_en_non_ascii_names() -> None:
    assert _speakers("“Bonjour,” said Thérèse.", EN) == ["Thérèse"]
    text = "\n\n".join(f"Then we saw Thérèse at the door number {i}." for i in range(4))
    cast = extract_characters([Chapter(index=1, title="t", text=text)], "en")
    assert "Thérèse" in [c.name for c in cast.characters]


def test_threshold_leaves_weak_guesses_unattributed() -> None:
    text = "“Well?” said Mr. Bennet.\n\n“I want to go.”\n\n“No.”\n\n“Please!”"
    chapter = Chapter(index=1, title="t", text=text)
    loose = attribute_dialogue(chapter, EN, "en", threshold=0.0)
    strict = attribute_dialogue(chapter, EN, "en", threshold=0.99)
    assert [d.speaker for d in strict] == [None] * 4  # nothing is that sure
    assert loose[0].speaker == "Mr. Bennet"
    assert all(d.confidence == 0.0 for d in strict)


def test_en_lead_in_paragraph_before_the_quote() -> None:
    # the tag closes the paragraph before (“…observed,” ⏎ “…”); a period needs a verb that
    # announces speech (“began.”), not a gesture (“nodded.”)
    text = "After a while, Mr. Bennet coolly observed,\n\n“You are both silly.”"
    got = attribute_dialogue(Chapter(index=1, title="t", text=text), EN, "en")
    assert [(d.speaker, d.rule) for d in got] == [("Mr. Bennet", "tag")]
    assert _speakers("Jane sat. Then Lydia began.\n\n“Listen to me.”", EN) == ["Lydia"]
    assert _speakers("Jane nodded.\n\n“Listen to me.”", EN) == [None]


def test_en_subject_adjacent_appositive_coordinated_and_passive() -> None:
    # the name right before the verb is its subject, even after a perception verb
    assert _speakers("Jane heard the King say, “Off we go.”", EN) == ["King"]
    # an appositive or participle between subject and verb
    text = "Jane protested, and Lydia, always unguarded, boisterously exclaimed, “Good Lord!”"
    assert _speakers(text, EN) == ["Lydia"]
    text = "It was late when Mr. Bennet joining in, observed, “Yes.”"
    assert _speakers(text, EN) == ["Mr. Bennet"]
    # a coordinated verb continues the clause of the last subject, not the first
    text = "They had not long parted when Lydia came towards her, and thus accosted her, “So!”"
    assert _speakers(text, EN) == ["Lydia"]
    # passive: the agent speaks
    assert _speakers("She was thus accosted by Mrs. Bennet, “Well?”", EN) == ["Mrs. Bennet"]


def test_en_tag_between_two_quotes_with_a_later_subject() -> None:
    # the second quote's tag is the later clause, and the first quote's own pronoun tag is
    # not overridden by it
    text = "“Is he ill?” she asked the King, and the King answered, “Not at all.”"
    got = _speakers(text, EN)
    assert got[1] == "King" and got[0] != "King"


def test_en_non_character_subjects_and_kinship_tags() -> None:
    text = "“Run!” said Jane; and an old Crab took the opportunity of saying, “Ah, my dear!”"
    assert _speakers(text, EN) == ["Jane", None]
    # “cried his wife”: a relative, resolved like a gendered pronoun to the one named nearby
    text = (
        "Mr. Bennet and Mrs. Bennet sat by the fire.\n\n"
        "“Do you hear?” said Mr. Bennet.\n\n"
        "“I am sick of it,” cried his wife."
    )
    assert _speakers(text, EN) == ["Mr. Bennet", "Mrs. Bennet"]


ZH = _cl(("孙少平", "少平"), ("胡永合",), ("田晓霞", "晓霞"), ("外星人",))


def test_zh_subject_not_object() -> None:
    text = "他又一次握住了胡永合的手，说：“谢谢你。”"
    lines = attribute_dialogue(Chapter(index=1, title="t", text="少平来了。" + text), ZH, "zh")
    assert [d.speaker for d in lines] == ["孙少平"]
    text = "当少平握住晓霞的手时，晓霞突然指着他的脸说：“你瘦了。”"
    assert _speakers(text, ZH, "zh") == ["田晓霞"]


def test_zh_thought_verbs_are_no_speech() -> None:
    assert _speakers("少平想：“她会来吗？”", ZH, "zh") == [None]
    assert _speakers("“好。”晓霞没说话。", ZH, "zh") == [None]


def test_zh_object_and_possessor_are_not_the_subject() -> None:
    assert _speakers("少平喝了一口茶，对晓霞说：“我前几天就想找你。”", ZH, "zh") == ["孙少平"]
    cast = _cl(("金俊武", "俊武"), ("李玉玲",))
    assert _speakers("俊武的媳妇李玉玲叹了一口气，说：“算了。”", cast, "zh") == ["李玉玲"]


def test_zh_tag_ending_in_a_colon_introduces_the_next_quote() -> None:
    text = (
        "晓霞问：“你们什么时候下井？”\n“晚上十二点。”\n“我也跟你去！”少平慌忙说：\n“你不要下去！”\n"
    )
    got = _speakers(text, ZH, "zh")
    assert got[3] == "孙少平" and got[2] != "孙少平"


def test_zh_narration_right_after_a_quote_names_its_speaker() -> None:
    text = "少平和晓霞坐在床边。\n“你瘦了。”懂事的晓霞握住他的手。\n"
    got = attribute_dialogue(Chapter(index=1, title="t", text=text), ZH, "zh")
    assert [(d.speaker, d.rule) for d in got] == [("田晓霞", "beat")]
    assert 0.35 <= got[0].confidence < 0.9


def test_zh_feminine_given_names_give_pronouns_a_gender() -> None:
    # no pronoun follows either name here; 霞 ends women's names, so 她 is 晓霞 and 他 少平
    text = "晓霞和少平走到河边。\n她看了看天，说：“要下雨了。”\n他低声说：“回去吧。”\n"
    assert _speakers(text, ZH, "zh") == ["田晓霞", "孙少平"]


def test_s05_zh_full_names_need_no_action_context() -> None:
    # 孙少安 / 田福堂 / 金俊山 mostly sit in narration (在, 的, 和) and 堂/山 are place endings:
    # dictionary-tagged surname + given names are kept, and their given names become aliases
    para = (
        "孙少安在砖场里忙了一天。田福堂的儿子来了。金俊山和孙少安一起回村。"
        "少安回到家里，少安的妻子已经做好了饭。俊山在路上遇见了福堂。\n"
    )
    cast = extract_characters([Chapter(index=1, title="", text=para * 8)], "zh")
    forms = {c.name: {c.name, *c.aliases} for c in cast.characters}
    assert "孙少安" in forms and "少安" in forms["孙少安"]
    assert {"田福堂", "金俊山"} <= set(forms)


def test_zh_script_lines() -> None:
    text = "外星人：你好。\n少平：你是谁？\n外星人：我从远方来。\n"
    lines = attribute_dialogue(Chapter(index=1, title="t", text=text), ZH, "zh")
    assert [(d.quote, d.speaker) for d in lines] == [
        ("你好。", "外星人"),
        ("你是谁？", "孙少平"),
        ("我从远方来。", "外星人"),
    ]


def test_zh_alternation_in_a_run_of_quote_lines() -> None:
    text = "少平走进来。\n晓霞问：\n“你来了？”\n“来了。”\n“住几天？”\n"
    assert _speakers(text, ZH, "zh") == ["田晓霞", "孙少平", "田晓霞"]


def test_s05_short_zh_text_yields_its_speakers() -> None:
    text = (
        "孙少平走进屋里，田晓霞正在看书。\n少平说：“我来了。”\n晓霞笑着说：“坐吧。”\n"
        "少平坐下来。\n晓霞问：“路上顺利吗？”\n"
    )
    names = {f for c in extract_characters([Chapter(index=1, title="", text=text)], "zh").characters
             for f in [c.name, *c.aliases]}  # fmt: skip
    assert {"少平", "晓霞"} <= names


def test_s05_zh_given_name_and_nickname_merge_into_the_full_name() -> None:
    para = (
        "王熙凤道：“都坐。”众人都坐下。熙凤道：“今天热闹。”凤姐便走了。"
        "贾宝玉道：“是。”宝玉道：“好。”\n"
    )
    cast = extract_characters([Chapter(index=1, title="", text=para * 6)], "zh")
    groups = {c.name: {c.name, *c.aliases} for c in cast.characters}
    owner = next(n for n, g in groups.items() if "熙凤" in g)
    assert "凤姐" in groups[owner] and "王熙凤" in groups[owner]


GOLD = pathlib.Path(__file__).resolve().parents[3] / "shared" / "dialogue"


@pytest.mark.skipif(not (GOLD / "eval_dialogue.py").is_file(), reason="no dialogue gold")
def test_dev_gold_accuracy_floor() -> None:
    """Deterministic accuracy on the public dev gold (measured with SKILL_08 1.2.0: PDNC-dev
    0.71, explicit tags 0.96; WP-dev 0.52 with SKILL_05 on the book); floors a bit under it
    guard against regressions."""
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
    from bench.bench_attribution import figures_of, run

    fig = figures_of(run(GOLD, pathlib.Path(__file__).resolve().parents[2], None, "dev", GOLD))
    assert fig["PDNC-dev"]["acc"] >= 0.68
    assert fig["PDNC-dev"]["categories"]["explicit"]["acc"] >= 0.95
    assert fig["WP-dev[book]"]["acc"] >= 0.49
    assert fig["WP-dev[instance]"]["acc"] >= 0.46
