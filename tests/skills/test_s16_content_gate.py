from __future__ import annotations

import pytest

from nf_skills import s16_content_gate
from nf_skills.contracts import Chapter, ContentGateThresholds, Script
from nf_skills.s10_script_adapt import adapt_script
from nf_skills.s13_storyboard import make_storyboard
from nf_skills.s16_content_gate import content_gate
from shared.errors import NFError
from tests.skills.planning_fixtures import en_case, long_zh_case, zh_case


def _run(case, lang):
    chapter, u, personas = case()
    script = adapt_script(chapter, u, personas, lang)
    board = make_storyboard(script, u, personas=personas)
    return chapter, u, script, board, personas


def _findings(result) -> dict:
    return {f.rule: f for f in result.findings}


def _edit_line(script: Script, index: int, **update) -> Script:
    lines = [ln.model_copy(update=update) if ln.index == index else ln for ln in script.lines]
    return script.model_copy(update={"lines": lines})


@pytest.mark.parametrize(("case", "lang"), [(zh_case, "zh"), (en_case, "en"), (long_zh_case, "zh")])
def test_adapted_chapters_pass(case, lang) -> None:
    result = content_gate(*_run(case, lang))
    assert result.gate == "SKILL_16" and result.skill_version == s16_content_gate.VERSION
    assert result.passed, [f for f in result.findings if not f.passed]
    assert len(result.findings) == 10
    assert all(f.detail == "" or f.passed for f in result.findings)


def test_altered_dialogue_fails_fidelity() -> None:
    chapter, u, script, board, personas = _run(zh_case, "zh")
    talk = next(ln for ln in script.lines if ln.kind == "dialogue")
    bad = _edit_line(script, talk.index, text="我们去西天取经吧，路上小心妖怪。")
    result = content_gate(chapter, u, bad, board, personas)
    f = _findings(result)
    assert not result.passed
    assert not f["dialogue.fidelity"].passed and f["dialogue.fidelity"].value < 0.5
    assert f"line {talk.index}" in f["dialogue.fidelity"].detail
    # The invented line is not in its source range either (one line of ten: still within 0.9).
    assert f["grounding"].value == pytest.approx(1 - 1 / len(script.lines), abs=1e-3)
    assert f"[{talk.index}]" in f["grounding"].detail


def test_trimmed_dialogue_is_still_faithful() -> None:
    chapter, u, script, board, personas = _run(zh_case, "zh")
    talk = next(ln for ln in script.lines if ln.kind == "dialogue")
    cut = _edit_line(script, talk.index, text=talk.text.split("，")[0])
    assert cut.lines[talk.index - 1].text != talk.text
    assert _findings(content_gate(chapter, u, cut, board, personas))["dialogue.fidelity"].passed


def test_unknown_speaker_and_speaker_missing_from_shot() -> None:
    chapter, u, script, board, personas = _run(zh_case, "zh")
    talk = next(ln for ln in script.lines if ln.kind == "dialogue")
    stranger = _edit_line(script, talk.index, speaker="土地公")
    f = _findings(content_gate(chapter, u, stranger, board, personas))
    assert not f["persona.speakers_known"].passed
    assert "土地公" in f["persona.speakers_known"].detail
    assert not f["persona.speakers_in_shot"].passed
    # An alias instead of the canonical name is flagged, with a hint.
    alias = _edit_line(script, talk.index, speaker="行者")
    assert (
        "alias of 孙悟空"
        in _findings(content_gate(chapter, u, alias, board, personas))[
            "persona.speakers_known"
        ].detail
    )


def test_storyboard_defects() -> None:
    chapter, u, script, board, personas = _run(zh_case, "zh")
    shots = list(board.shots)
    # Drop one line from its shot and blank a caption.
    shots[0] = shots[0].model_copy(update={"line_indices": shots[0].line_indices[1:]})
    shots[1] = shots[1].model_copy(update={"caption": " "})
    f = _findings(
        content_gate(chapter, u, script, board.model_copy(update={"shots": shots}), personas)
    )
    assert not f["storyboard.lines_once"].passed
    assert not f["storyboard.non_empty_shots"].passed
    assert f["storyboard.non_empty_shots"].value == pytest.approx(1 - 1 / len(shots))
    # A scene with lines but no shot.
    only_first_scene = [s for s in board.shots if s.scene_index == 1]
    f = _findings(
        content_gate(
            chapter, u, script, board.model_copy(update={"shots": only_first_scene}), personas
        )
    )
    assert not f["storyboard.scenes_with_shots"].passed
    assert f["storyboard.scenes_with_shots"].detail == "scenes without a shot: [2]"


def test_a_script_that_stops_early_fails_coverage() -> None:
    chapter, u, script, board, personas = _run(long_zh_case, "zh")
    head = [ln for ln in script.lines if ln.scene_index == 1]
    short = script.model_copy(update={"lines": head})
    result = content_gate(chapter, u, short, board, personas)
    f = _findings(result)
    assert not result.passed
    assert not f["coverage.scenes"].passed and f["coverage.scenes"].value == 0.25
    assert not f["coverage.spread"].passed and f["coverage.spread"].value <= 0.3
    # Looser thresholds let the same script through on coverage.
    loose = ContentGateThresholds(min_scene_coverage=0.2, min_source_spread=0.2)
    f = _findings(content_gate(chapter, u, short, board, personas, thresholds=loose))
    assert f["coverage.scenes"].passed and f["coverage.spread"].passed


def test_summary_coverage_counts_echoed_sentences() -> None:
    chapter, u, script, board, personas = _run(zh_case, "zh")
    f = _findings(content_gate(chapter, u, script, board, personas))["coverage.summary"]
    assert f.passed and f.value == 1.0
    missing = u.model_copy(
        update={"summary": u.summary.model_copy(update={"sentences": ["大鹏展翅飞过东海。"]})}
    )
    f = _findings(content_gate(chapter, missing, script, board, personas))["coverage.summary"]
    assert not f.passed and f.value == 0.0 and "大鹏展翅" in f.detail


def test_refusals() -> None:
    chapter, u, script, board, personas = _run(zh_case, "zh")
    with pytest.raises(NFError) as err:
        content_gate(Chapter(index=3, title="t", text=""), u, script, board, personas)
    assert err.value.code == "NF-SKILL-001"
    with pytest.raises(NFError):
        content_gate(chapter, u, script.model_copy(update={"chapter_index": 4}), board, personas)
    with pytest.raises(NFError):
        content_gate(chapter, u, _edit_line(script, 1, source_end=10**6), board, personas)
