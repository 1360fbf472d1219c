"""EspeakSpeechProvider: real WAVs from espeak-ng, English and Mandarin."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from nf_services.providers import offline_speech
from nf_services.providers.base import SpeechProvider
from nf_services.providers.offline_speech import EspeakSpeechProvider
from shared.errors import NFError
from shared.media_probe import wav_stats


@pytest.mark.parametrize(
    ("voice", "text"),
    [
        ("en", "Alice was beginning to get very tired of sitting by her sister."),
        ("en+m3", "The Mock Turtle sighed deeply."),
        ("cmn", "孙悟空大闹天宫，玉帝急调天兵天将前来捉拿。"),
        ("zh", "唐僧师徒四人西天取经。"),
    ],
)
def test_speak_writes_audible_wav(tmp_path: Path, voice: str, text: str) -> None:
    provider = EspeakSpeechProvider()
    assert isinstance(provider, SpeechProvider)
    res = provider.speak(text, voice, tmp_path / "out.wav")
    with wave.open(str(res.path)) as w:
        header_seconds = w.getnframes() / w.getframerate()
    assert res.seconds == pytest.approx(header_seconds)
    assert res.seconds > 1.0
    stats = wav_stats(res.path)
    assert stats.rms > 0.02
    assert stats.voiced_ratio > 0.3
    assert res.usage.unit == "audio_seconds"
    assert res.usage.units == pytest.approx(res.seconds, abs=1e-3)
    assert res.usage.provider == "offline-espeak" and res.usage.cost_usd == 0.0


def test_rate_and_length_change_duration(tmp_path: Path) -> None:
    p = EspeakSpeechProvider()
    text = "The quick brown fox jumps over the lazy dog."
    short = p.speak(text, "en-us", tmp_path / "a.wav").seconds
    longer = p.speak(text + " " + text, "en-us", tmp_path / "b.wav").seconds
    fast = p.speak(text, "en-us", tmp_path / "c.wav", rate=340).seconds
    assert longer > short * 1.6
    assert fast < short * 0.75


def test_empty_text_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(NFError) as err:
        EspeakSpeechProvider().speak("  \n ", "en", tmp_path / "x.wav")
    assert err.value.code == "NF-SKILL-001"


def test_unknown_voice_raises_media_002(tmp_path: Path) -> None:
    with pytest.raises(NFError) as err:
        EspeakSpeechProvider().speak("hello", "qqzz", tmp_path / "x.wav")
    assert err.value.code == "NF-MEDIA-002"
    assert not (tmp_path / "x.wav").exists()


def test_missing_espeak_tells_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offline_speech.shutil, "which", lambda _name: None)
    with pytest.raises(NFError) as err:
        EspeakSpeechProvider().speak("hello", "en", tmp_path / "x.wav")
    assert err.value.code == "NF-MEDIA-002"
    assert "apt-get install espeak-ng" in err.value.detail
