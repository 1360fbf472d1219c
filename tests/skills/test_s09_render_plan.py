from __future__ import annotations

import pytest

from nf_skills import s09_render_plan
from nf_skills.contracts import Script, ScriptLine, Shot, Storyboard
from nf_skills.s03_chunk import speech_units
from nf_skills.s09_render_plan import (
    MIN_SHOT_SECONDS,
    PAUSE_SECONDS,
    render_plan,
    speech_rate_for,
)
from nf_skills.s10_script_adapt import adapt_script
from nf_skills.s13_storyboard import make_storyboard
from nf_skills.s15_style_bible import style_bible
from nf_skills.s19_continuity import continuity
from shared.errors import NFError
from tests.skills.planning_fixtures import long_zh_case, persona

STYLE = style_bible(None, "zh")
SHEET = continuity([persona("孙悟空"), persona("唐僧")], STYLE)


def _line(i: int, kind: str, text: str, speaker: str | None = None) -> ScriptLine:
    return ScriptLine(
        index=i,
        kind=kind,
        speaker=speaker,
        text=text,
        scene_index=1,
        source_start=0,
        source_end=1,
    )


def _shot(i: int, lines: list[int], framing: str = "medium", chars=(), scene: int = 1) -> Shot:
    return Shot(
        index=i,
        scene_index=scene,
        framing=framing,
        characters=list(chars),
        caption=f"c{i}",
        line_indices=lines,
    )


SCRIPT = Script(
    chapter_index=1,
    title="t",
    skill_version="x",
    lines=[
        _line(1, "narration", "清晨，师徒来到山下。山路崎岖。雾气弥漫。"),
        _line(2, "dialogue", "师父莫怕。有老孙在。", speaker="孙悟空"),
        _line(3, "dialogue", "悟空小心。", speaker="唐僧"),
        _line(4, "dialogue", "妖怪在哪里？", speaker="孙悟空"),
        _line(5, "narration", "天色渐渐暗了下来。"),
    ],
)
BOARD = Storyboard(
    chapter_index=1,
    skill_version="x",
    shots=[
        _shot(1, [1], "wide"),
        _shot(2, [2, 3], "medium", ["孙悟空", "唐僧"]),
        _shot(3, [4], "medium", ["唐僧", "孙悟空"]),
        _shot(4, [5], "medium", ["唐僧", "孙悟空"], scene=2),
    ],
)


def _plan(**kw):
    kw.setdefault("speech_rate", 3.0)
    kw.setdefault("min_seconds", 0)
    return render_plan(BOARD, SCRIPT, STYLE, SHEET, **kw)


def test_text_speaker_and_seconds_per_shot() -> None:
    plan = _plan()
    assert plan.skill_version == s09_render_plan.VERSION
    assert [p.shot_index for p in plan.shots] == [1, 2, 3, 4]
    first, talk, solo, _ = plan.shots
    assert first.narration_text == "清晨，师徒来到山下。山路崎岖。雾气弥漫。"
    assert first.speaker is None
    # A shot of several speakers is read by the narrator, each quote prefixed by its speaker.
    assert talk.narration_text == "孙悟空：师父莫怕。有老孙在。唐僧：悟空小心。"
    assert talk.speaker is None
    # One character talking: that character's voice, no prefix.
    assert solo.narration_text == "妖怪在哪里？" and solo.speaker == "孙悟空"
    expected = speech_units(first.narration_text) / 3.0 + PAUSE_SECONDS
    assert first.est_seconds == pytest.approx(expected, abs=1e-3)
    assert solo.est_seconds == pytest.approx(
        max(MIN_SHOT_SECONDS, 5 / 3.0 + PAUSE_SECONDS), abs=1e-3
    )
    assert plan.est_seconds == pytest.approx(sum(p.est_seconds for p in plan.shots), abs=1e-3)
    assert plan.budget_seconds == 180


def test_same_look_reuses_the_previous_panel() -> None:
    plan = _plan()
    # Shot 3 shows the same two characters as shot 2 (order does not matter) in the same framing
    # and scene; shot 4 is another scene.
    assert [p.needs_image for p in plan.shots] == [True, True, False, True]
    assert [p.reuse_image_of for p in plan.shots] == [None, None, 2, None]
    board = BOARD.model_copy(
        update={"shots": [*BOARD.shots[:3], _shot(4, [5], "medium", ["孙悟空", "唐僧"])]}
    )
    plan = render_plan(board, SCRIPT, STYLE, SHEET, speech_rate=3.0, min_seconds=0)
    # Moved into scene 1, shot 4 shows the same again: both reuse shot 2's panel.
    assert [p.needs_image for p in plan.shots] == [True, True, False, False]
    assert [p.reuse_image_of for p in plan.shots] == [None, None, 2, 2]


def test_over_budget_trims_narration_first_and_keeps_first_sentences() -> None:
    full = _plan()
    budget = full.est_seconds - 1.0
    plan = _plan(budget_seconds=budget)
    assert plan.est_seconds <= budget
    texts = [p.narration_text for p in plan.shots]
    # Narration goes first: the opening narration lost its last sentence, nothing else did.
    assert texts[0] == "清晨，师徒来到山下。山路崎岖。"
    assert texts[1:] == [p.narration_text for p in full.shots[1:]]


def test_impossible_budget_keeps_every_shot_and_records_the_overrun() -> None:
    plan = _plan(budget_seconds=5, min_seconds=0)
    assert len(plan.shots) == 4
    assert [p.narration_text for p in plan.shots] == [
        "清晨，师徒来到山下。",
        "孙悟空：师父莫怕。",
        "妖怪在哪里？",
        "天色渐渐暗了下来。",
    ]
    assert plan.est_seconds > 5


def test_under_min_seconds_the_panels_are_held_longer() -> None:
    short = _plan()
    plan = _plan(min_seconds=60)
    assert plan.est_seconds == pytest.approx(60, abs=1e-2)
    hold = plan.shots[0].est_seconds - short.shots[0].est_seconds
    assert hold > 0
    assert all(
        p.est_seconds - s.est_seconds == pytest.approx(hold, abs=1e-2)
        for p, s in zip(plan.shots, short.shots, strict=True)
    )
    assert [p.narration_text for p in plan.shots] == [p.narration_text for p in short.shots]


def test_real_chapter_fits_the_budget() -> None:
    chapter, u, personas = long_zh_case()
    script = adapt_script(chapter, u, personas, "zh", target_seconds=150)
    board = make_storyboard(script, u, personas=personas)
    sheet = continuity(personas, STYLE)
    plan = render_plan(board, script, STYLE, sheet, speech_rate=speech_rate_for("zh"))
    assert 60 <= plan.est_seconds <= 180
    assert len(plan.shots) == len(board.shots)
    assert all(p.narration_text for p in plan.shots)
    tight = render_plan(
        board, script, STYLE, sheet, speech_rate=speech_rate_for("zh"), budget_seconds=120
    )
    assert tight.est_seconds <= 120 < plan.est_seconds
    assert [p.shot_index for p in tight.shots] == [p.shot_index for p in plan.shots]


def test_speech_rate_for_scales_with_wpm() -> None:
    assert speech_rate_for("en", 170) == pytest.approx(3.1)
    assert speech_rate_for("zh", 340) == pytest.approx(2 * speech_rate_for("zh", 170))
    with pytest.raises(NFError):
        speech_rate_for("zh", 0)


@pytest.mark.parametrize(
    "kw",
    [
        {"speech_rate": 0},
        {"budget_seconds": 30, "min_seconds": 60},
        {"budget_seconds": -1},
    ],
)
def test_bad_parameters_are_refused(kw: dict) -> None:
    with pytest.raises(NFError) as err:
        _plan(**kw)
    assert err.value.code == "NF-SKILL-001"


def test_inconsistent_inputs_are_refused() -> None:
    stray = BOARD.model_copy(update={"shots": [_shot(1, [99])]})
    with pytest.raises(NFError):
        render_plan(stray, SCRIPT, STYLE, SHEET, speech_rate=3.0)
    with pytest.raises(NFError):
        render_plan(BOARD.model_copy(update={"shots": []}), SCRIPT, STYLE, SHEET, speech_rate=3.0)
    with pytest.raises(NFError):
        render_plan(
            BOARD.model_copy(update={"chapter_index": 2}), SCRIPT, STYLE, SHEET, speech_rate=3.0
        )
