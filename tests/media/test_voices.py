"""Issue 14 item 1: dialogue is voiced with its speaker's voice and narration with the
narrator's (SKILL_11 cast -> SKILL_20 prompts -> the executor -> the provider, with the cast's
pitch reaching it), and the optional Piper voice (skipped when the `voice-piper` extra is not
installed; scripts/setup.sh installs it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nf_assets.executors import MediaJob, render_chapter_media
from nf_services.providers import health
from nf_services.providers.offline_speech import EspeakSpeechProvider
from nf_services.providers.piper_speech import PiperSpeechProvider, piper_available
from nf_services.providers.registry import build_provider
from nf_skills import s11_voice_cast, s15_style_bible, s20_prompt_compile
from nf_skills.contracts import (
    ContinuitySheet,
    Persona,
    RenderPlan,
    Shot,
    ShotPlan,
    Storyboard,
)
from shared.errors import NFError
from shared.media_probe import read_wav, wav_stats
from shared.storage import LocalArtifactStore


def _where(store: LocalArtifactStore):
    # the store travels to the executor as its spec (or, before the S3 store, as its root)
    return store.spec if hasattr(store, "spec") else str(store.root)


TEXT = "Curiouser and curiouser, said the little girl, as she opened the door."


def f0(path: Path) -> float:
    """Median fundamental frequency (Hz) of the voiced 40 ms frames, by autocorrelation."""
    info, data = read_wav(path)
    x = data.mean(axis=1)
    rate, n = info.sample_rate, int(0.04 * info.sample_rate)
    lo, hi = int(rate / 400), int(rate / 60)
    out = []
    for k in range(0, len(x) - n, n):
        f = x[k : k + n] - x[k : k + n].mean()
        if np.sqrt(np.mean(f**2)) < 0.02:
            continue
        ac = np.correlate(f, f, "full")[n - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            out.append(rate / lag)
    assert out, f"no voiced frames in {path.name}"
    return float(np.median(out))


def persona(name: str, gender: str) -> Persona:
    return Persona(
        name=name,
        aliases=[],
        appearance="",
        traits=[],
        speech_style="",
        colour="#e6b450",
        skill_version="t",
        gender=gender,  # type: ignore[arg-type]
    )


def test_each_speaker_is_heard_in_their_own_voice(tmp_path: Path) -> None:
    people = [persona("Alice", "f"), persona("Hatter", "m")]
    cast = {v.character: v for v in s11_voice_cast.cast_voices(people, "en")}
    board = Storyboard(
        chapter_index=1,
        skill_version="t",
        shots=[
            Shot(
                index=i, scene_index=1, framing="wide", characters=[], caption="x", line_indices=[i]
            )
            for i in (1, 2, 3)
        ],
    )
    plan = RenderPlan(
        chapter_index=1,
        budget_seconds=60,
        est_seconds=9,
        skill_version="t",
        shots=[
            ShotPlan(shot_index=1, needs_image=False, narration_text=TEXT, est_seconds=3),
            ShotPlan(
                shot_index=2, needs_image=False, narration_text=TEXT, est_seconds=3, speaker="Alice"
            ),
            ShotPlan(
                shot_index=3,
                needs_image=False,
                narration_text=TEXT,
                est_seconds=3,
                speaker="Hatter",
            ),
        ],
    )
    prompts = s20_prompt_compile.compile_prompts(
        plan,
        board,
        s15_style_bible.style_bible(None, "en"),
        ContinuitySheet(character_colours={}, character_marks={}, skill_version="t"),
        people,
        list(cast.values()),
    )
    speech = {p.shot_index: p.params for p in prompts if p.kind == "speech"}
    for shot, who in ((1, "narrator"), (2, "Alice"), (3, "Hatter")):
        assert (speech[shot]["voice"], speech[shot]["pitch"]) == (cast[who].voice, cast[who].pitch)
    store = LocalArtifactStore(tmp_path / "store")
    job = MediaJob(
        1,
        prompts,
        {"kind": "offline"},
        {"kind": "offline"},
        _where(store),
        health_policy=health.HealthPolicy(),
    )
    outcome = render_chapter_media(job)
    assert not outcome.degradations
    # the cast's voice and pitch reached espeak-ng: three different voices were used
    models = [u.model for u in outcome.usages if u.unit == "audio_seconds"]
    assert len(set(models)) == 3, models
    clips = {c.shot_index: store.resolve(c.path) for c in outcome.output.clips}
    pitch = {shot: f0(path) for shot, path in clips.items()}
    assert pitch[2] > 1.15 * pitch[3], pitch  # Alice sounds higher than the Hatter
    assert len({round(p) for p in pitch.values()}) == 3, pitch


def test_espeak_pitch_changes_the_voice(tmp_path: Path) -> None:
    low = EspeakSpeechProvider().speak(TEXT, "en", tmp_path / "low.wav", pitch=20).path
    high = EspeakSpeechProvider().speak(TEXT, "en", tmp_path / "high.wav", pitch=80).path
    assert f0(high) > 1.3 * f0(low)


def test_unknown_speech_kind_is_refused() -> None:
    with pytest.raises(NFError) as err:
        build_provider("image", {"kind": "piper"})
    assert err.value.code == "NF-PROVIDER-006"
    with pytest.raises(NFError) as err:
        build_provider("speech", {"kind": "piper", "volume": 3})
    assert err.value.code == "NF-PROVIDER-006"


def test_piper_without_its_python_fails_with_media_002_and_the_chain_falls_back(
    tmp_path: Path,
) -> None:
    broken = PiperSpeechProvider(python=str(tmp_path / "no-python"))
    with pytest.raises(NFError) as err:
        broken.speak(TEXT, "en", tmp_path / "x.wav")
    assert err.value.code == "NF-MEDIA-002"
    # in the executor: the configured piper fails, espeak-ng speaks, the degradation is recorded
    store = LocalArtifactStore(tmp_path / "store")
    [prompt] = [
        p
        for p in s20_prompt_compile.compile_prompts(
            RenderPlan(
                chapter_index=1,
                budget_seconds=60,
                est_seconds=3,
                skill_version="t",
                shots=[
                    ShotPlan(shot_index=1, needs_image=False, narration_text=TEXT, est_seconds=3)
                ],
            ),
            Storyboard(
                chapter_index=1,
                skill_version="t",
                shots=[
                    Shot(
                        index=1,
                        scene_index=1,
                        framing="wide",
                        characters=[],
                        caption="x",
                        line_indices=[1],
                    )
                ],
            ),
            s15_style_bible.style_bible(None, "en"),
            ContinuitySheet(character_colours={}, character_marks={}, skill_version="t"),
            [],
            s11_voice_cast.cast_voices([], "en"),
        )
    ]
    job = MediaJob(
        1,
        [prompt],
        {"kind": "offline"},
        {"kind": "piper", "python": str(tmp_path / "no-python")},
        _where(store),
        retry_scale=0.0,
        health_policy=health.HealthPolicy(),
    )
    outcome = render_chapter_media(job)
    [clip] = outcome.output.clips
    assert clip.provider == "offline-espeak"
    assert outcome.degradations and outcome.degradations[0]["error_code"] == "NF-MEDIA-002"


needs_piper = pytest.mark.skipif(
    not piper_available(), reason="the voice-piper extra is not installed"
)


@needs_piper
def test_piper_speaks_english_naturally_and_the_cast_differs(tmp_path: Path) -> None:
    provider = build_provider("speech", {"kind": "piper"})
    assert isinstance(provider, PiperSpeechProvider)
    try:
        narrator = provider.speak(TEXT, "en", tmp_path / "n.wav", rate=165, pitch=45)
        girl = provider.speak(TEXT, "en+f2", tmp_path / "g.wav", rate=170, pitch=80)
        zh = provider.speak("唐僧师徒四人晓行夜宿。", "cmn", tmp_path / "z.wav")
    finally:
        provider.close()
    for res in (narrator, girl):
        st = wav_stats(res.path)
        assert st.sample_rate == 22050 and st.duration > 2.0 and st.rms > 0.02
        assert res.usage.provider == "offline-piper"
    assert f0(girl.path) > 1.15 * f0(narrator.path)
    assert zh.usage.provider == "offline-espeak"  # Piper's only voice is English
