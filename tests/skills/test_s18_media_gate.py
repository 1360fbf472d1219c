"""SKILL_18: the media gate passes real output and catches blank, silent and broken media."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nf_services.media.composer import compose_chapter
from nf_services.providers.offline_image import OfflinePanelProvider
from nf_services.providers.offline_speech import EspeakSpeechProvider
from nf_skills import s18_media_gate as s18
from nf_skills.s18_media_gate import (
    audio_gate,
    check_audio,
    check_image,
    check_video,
    image_gate,
    media_gate,
    video_gate,
)


def _wav(path: Path, samples: np.ndarray, rate: int = 22050) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype(np.int16).tobytes())
    return path


def _by_rule(findings) -> dict:
    return {f.rule: f for f in findings}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("gate")
    panel = OfflinePanelProvider().render(
        "x", {"caption": "唐僧师徒四人西天取经。", "characters": ["唐僧"]}, d / "panel.png"
    )
    blank = d / "blank.png"
    Image.new("RGB", (1280, 720), "#336699").save(blank)
    speech = EspeakSpeechProvider().speak(
        "唐僧师徒四人西天取经，一路降妖除魔。", "cmn", d / "s.wav"
    )
    silent = _wav(d / "silent.wav", np.zeros(22050 * 3))
    good_mp4 = compose_chapter([(panel.path, 1.0)], speech.path, None, d / "good.mp4").path
    mute_mp4 = compose_chapter([(panel.path, speech.seconds)], None, None, d / "mute.mp4").path
    return {
        "panel": panel.path,
        "blank": blank,
        "speech": speech.path,
        "seconds": speech.seconds,
        "silent": silent,
        "good_mp4": good_mp4,
        "mute_mp4": mute_mp4,
        "dir": d,
    }


def test_module_identity() -> None:
    assert s18.SKILL_ID == "SKILL_18"


def test_good_media_passes(media: dict) -> None:
    res = media_gate(
        images=[media["panel"]],
        expected_size=(1280, 720),
        audio=[(media["speech"], media["seconds"] * 1.2)],
        video=media["good_mp4"],
        narration_seconds=media["seconds"],
    )
    assert res.gate == "SKILL_18" and res.skill_version == s18.VERSION
    assert res.passed, [f for f in res.findings if not f.passed]
    rules = {f.rule for f in res.findings}
    assert {
        "image.width",
        "image.height",
        "image.not_blank",
        "audio.min_duration",
        "audio.duration_match",
        "audio.not_silent",
        "video.has_video",
        "video.has_audio",
        "video.duration_match",
    } <= rules


def test_blank_png_fails(media: dict) -> None:
    res = image_gate([media["panel"], media["blank"]], (1280, 720))
    assert not res.passed
    failed = [f for f in res.findings if not f.passed]
    assert [f.rule for f in failed] == ["image.not_blank"]
    assert "blank.png" in failed[0].detail
    assert failed[0].value < failed[0].threshold


def test_wrong_size_fails(media: dict) -> None:
    found = _by_rule(check_image(media["panel"], (1920, 1080)))
    assert not found["image.width"].passed and found["image.width"].value == 1280
    assert found["image.width"].threshold == 1920
    assert found["image.not_blank"].passed


def test_silent_wav_fails(media: dict) -> None:
    found = _by_rule(check_audio(media["silent"], 3.0))
    assert not found["audio.not_silent"].passed
    assert found["audio.min_duration"].passed and found["audio.duration_match"].passed
    assert not audio_gate([(media["silent"], None)]).passed


def test_audio_duration_mismatch_fails(media: dict) -> None:
    found = _by_rule(check_audio(media["speech"], media["seconds"] * 3))
    assert not found["audio.duration_match"].passed
    assert found["audio.not_silent"].passed


def test_too_short_audio_fails(media: dict) -> None:
    click = _wav(media["dir"] / "click.wav", np.full(220, 0.5))
    assert not _by_rule(check_audio(click))["audio.min_duration"].passed


def test_video_without_audio_fails(media: dict) -> None:
    res = video_gate(media["mute_mp4"], media["seconds"])
    assert not res.passed
    found = _by_rule(res.findings)
    assert not found["video.has_audio"].passed
    assert found["video.has_video"].passed and found["video.duration_match"].passed


def test_video_duration_mismatch_fails(media: dict) -> None:
    found = _by_rule(check_video(media["good_mp4"], media["seconds"] + 5))
    f = found["video.duration_match"]
    assert not f.passed and f.value == pytest.approx(5, abs=0.1) and f.threshold == 0.5


def test_subtitles_required(media: dict) -> None:
    found = _by_rule(check_video(media["good_mp4"], require_subtitles=True))
    assert not found["video.has_subtitles"].passed


def test_missing_and_corrupt_files_fail_without_raising(media: dict) -> None:
    junk = media["dir"] / "junk.bin"
    junk.write_bytes(b"junk" * 10)
    res = media_gate(
        images=[media["dir"] / "missing.png", junk],
        audio=[(junk, None)],
        video=junk,
    )
    assert not res.passed
    assert {f.rule for f in res.findings} == {"image.readable", "audio.readable", "video.readable"}


def test_empty_gate_does_not_pass() -> None:
    assert not media_gate().passed


def test_motion_is_not_asked_of_a_flat_picture(tmp_path: Path) -> None:
    """A pan over a plain picture cannot be seen: the gate passes it and says why, while a still
    over a detailed panel fails (tests/media/test_motion_music.py)."""
    flat = tmp_path / "flat.png"
    Image.new("RGB", (1280, 720), (90, 120, 200)).save(flat)
    res = compose_chapter([(flat, 4.0)], None, None, tmp_path / "flat.mp4")
    [motion] = s18.check_motion(res.path, [(0.0, 4.0)])
    assert motion.passed and "motion not visible" in motion.detail
