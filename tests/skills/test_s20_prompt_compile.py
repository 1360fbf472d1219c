from __future__ import annotations

import hashlib
import json

import pytest

from nf_skills import s20_prompt_compile
from nf_skills.contracts import RenderPlan, VoiceAssignment
from nf_skills.s09_render_plan import render_plan, speech_rate_for
from nf_skills.s10_script_adapt import adapt_script
from nf_skills.s13_storyboard import make_storyboard
from nf_skills.s15_style_bible import style_bible
from nf_skills.s19_continuity import continuity
from nf_skills.s20_prompt_compile import compile_prompts
from shared.errors import NFError
from tests.skills.planning_fixtures import voices, zh_case


@pytest.fixture(scope="module")
def planned():
    chapter, u, personas = zh_case()
    script = adapt_script(chapter, u, personas, "zh")
    board = make_storyboard(script, u, personas=personas)
    style = style_bible(None, "zh")
    sheet = continuity(personas, style)
    plan = render_plan(board, script, style, sheet, speech_rate=speech_rate_for("zh"))
    return plan, board, style, sheet, personas


def _compile(planned, **kw):
    plan, board, style, sheet, personas = planned
    return compile_prompts(plan, board, style, sheet, personas, kw.pop("voices", voices()), **kw)


def test_one_image_per_needed_panel_and_one_speech_per_shot(planned) -> None:
    plan, board, style, sheet, _ = planned
    prompts = _compile(planned)
    images = [p for p in prompts if p.kind == "image"]
    speech = [p for p in prompts if p.kind == "speech"]
    assert [p.shot_index for p in images] == [s.shot_index for s in plan.shots if s.needs_image]
    assert [p.shot_index for p in speech] == [s.shot_index for s in plan.shots]
    assert all(p.skill_version == s20_prompt_compile.VERSION for p in prompts)
    assert all(p.template_version == "v1" and p.chapter_index == 3 for p in prompts)
    # In shot order, the image before the speech of the same shot.
    assert [(p.shot_index, p.kind) for p in prompts] == sorted(
        (p.shot_index, p.kind) for p in prompts
    )


def test_image_params_carry_what_the_renderer_needs(planned) -> None:
    plan, board, style, sheet, personas = planned
    image = next(p for p in _compile(planned) if p.kind == "image" and p.params["characters"])
    shot = next(s for s in board.shots if s.index == image.shot_index)
    params = image.params
    assert (params["width"], params["height"]) == (1280, 720)
    assert params["background"] == style.background and params["palette"] == style.palette
    assert params["framing"] == shot.framing and params["caption"] == shot.caption
    assert params["characters"] == shot.characters
    assert params["title"] == board.title and params["shot_index"] == shot.index
    colours = json.loads(params["character_colours"])
    assert colours == {c: sheet.character_colours[c] for c in shot.characters}
    # The prompt is built from the template: framing, caption and persona appearance.
    assert shot.caption in image.prompt
    who = shot.characters[0]
    assert next(p.appearance for p in personas if p.name == who) in image.prompt


def test_speech_uses_the_shot_speakers_voice_else_the_narrator(planned) -> None:
    plan, *_ = planned
    speech = {p.shot_index: p for p in _compile(planned) if p.kind == "speech"}
    for sp in plan.shots:
        p = speech[sp.shot_index]
        assert p.prompt == sp.narration_text == p.params["text"]
        if sp.speaker == "沙僧":
            assert (p.params["voice"], p.params["rate"], p.params["pitch"]) == ("cmn+m3", 180, 60)
            assert p.params["speaker"] == "沙僧"
        else:
            assert p.params["voice"] == "cmn" and p.params["speaker"] == "narrator"
    assert {sp.speaker for sp in plan.shots} == {None, "沙僧"}  # both branches were seen
    # A solo speaker without a voice of their own is read by the narrator.
    no_sha = [v for v in voices() if v.character != "沙僧"]
    solo = next(sp.shot_index for sp in plan.shots if sp.speaker == "沙僧")
    fallback = next(
        p for p in _compile(planned, voices=no_sha) if p.kind == "speech" and p.shot_index == solo
    )
    assert fallback.params["voice"] == "cmn" and fallback.params["speaker"] == "narrator"


def test_hash_is_the_canonical_sha256_and_stable(planned) -> None:
    a = _compile(planned)
    b = _compile(planned)
    assert [p.prompt_hash for p in a] == [p.prompt_hash for p in b]
    assert len({p.prompt_hash for p in a}) == len(a)
    p = a[0]
    template = s20_prompt_compile.TEMPLATES["v1"][p.kind]
    payload = {
        "kind": p.kind,
        "prompt": p.prompt,
        "params": p.params,
        "template_version": "v1",
        "template_sha": hashlib.sha256(template.encode()).hexdigest(),
        "skill_version": s20_prompt_compile.VERSION,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert p.prompt_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_hash_changes_with_the_template_and_its_version(planned) -> None:
    base = {(p.shot_index, p.kind): p for p in _compile(planned)}
    custom = {
        (p.shot_index, p.kind): p
        for p in _compile(planned, template="Panel {shot_index}: {framing} of {characters}.")
    }
    for key, p in custom.items():
        if key[1] == "image":
            assert p.prompt.startswith(f"Panel {key[0]}: ")
            assert p.prompt_hash != base[key].prompt_hash
        else:  # a string template only replaces the image template
            assert p.prompt_hash == base[key].prompt_hash
    renamed = _compile(planned, template_version="v2", template={"speech": "{text}"})
    assert all(
        p.prompt_hash != base[(p.shot_index, p.kind)].prompt_hash
        and p.template_version == "v2"
        and p.prompt == base[(p.shot_index, p.kind)].prompt
        for p in renamed
    )


def test_text_change_changes_only_that_shots_speech_hash(planned) -> None:
    plan, board, style, sheet, personas = planned
    shots = list(plan.shots)
    shots[0] = shots[0].model_copy(update={"narration_text": shots[0].narration_text + "嗯。"})
    edited = RenderPlan(**{**plan.model_dump(), "shots": [s.model_dump() for s in shots]})
    before = {(p.shot_index, p.kind): p.prompt_hash for p in _compile(planned)}
    after = {
        (p.shot_index, p.kind): p.prompt_hash
        for p in compile_prompts(edited, board, style, sheet, personas, voices())
    }
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {(shots[0].shot_index, "speech")}


def test_refusals(planned) -> None:
    with pytest.raises(NFError) as err:
        _compile(planned, template="{no_such_field}")
    assert err.value.code == "NF-SKILL-001"
    with pytest.raises(NFError):
        _compile(planned, template_version="v9")
    with pytest.raises(NFError):
        _compile(planned, template={"video": "{x}"})
    with pytest.raises(NFError):
        _compile(planned, voices=[VoiceAssignment(character="唐僧", voice="cmn")])
    plan, board, *_ = planned
    with pytest.raises(NFError):
        compile_prompts(
            plan, board.model_copy(update={"shots": board.shots[:1]}), *planned[2:], voices()
        )
