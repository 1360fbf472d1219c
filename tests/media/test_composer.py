"""Chapter composition: narration track joining, MP4 encoding, probing."""

from __future__ import annotations

import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from nf_services.media.composer import compose_chapter, concat_wavs, concat_wavs_timed
from nf_services.providers.offline_image import OfflinePanelProvider
from nf_services.providers.offline_speech import EspeakSpeechProvider
from nf_skills.s21_subtitle import build_subtitles
from shared import media_probe as probe
from shared.errors import NFError
from shared.media_probe import probe_media, wav_duration, wav_info, wav_stats

LINES = [
    "孙悟空大闹天宫，玉帝急调天兵天将前来捉拿。",
    "那猴王手持金箍棒，打得众神东倒西歪。",
    "一路杀到通明殿外。",
]


def write_tone(path: Path, seconds: float, *, rate: int = 22050, channels: int = 1) -> Path:
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    pcm = (np.repeat(tone[:, None], channels, axis=1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def chapter(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("chapter")
    panels, clips = [], []
    for i, text in enumerate(LINES, start=1):
        panels.append(
            OfflinePanelProvider()
            .render(text, {"caption": text, "shot_index": i, "framing": "medium"}, d / f"{i}.png")
            .path
        )
        clips.append(EspeakSpeechProvider().speak(text, "cmn", d / f"{i}.wav").path)
    track = concat_wavs_timed(clips, d / "narration.wav", pause=0.3)
    subs = build_subtitles(1, [(t, s, e) for t, (s, e) in zip(LINES, track.segments, strict=True)])
    srt = d / "chapter.srt"
    srt.write_text(subs.srt, encoding="utf-8")
    return {"dir": d, "panels": panels, "clips": clips, "track": track, "srt": srt}


def test_concat_track_timing(chapter: dict) -> None:
    track = chapter["track"]
    clip_seconds = [wav_duration(c) for c in chapter["clips"]]
    assert track.seconds == pytest.approx(sum(clip_seconds) + 2 * 0.3 + 0.2, abs=1e-3)
    assert wav_duration(track.path) == pytest.approx(track.seconds)
    for (start, end), secs in zip(track.segments, clip_seconds, strict=True):
        assert end - start == pytest.approx(secs, abs=1e-3)
    gaps = [b[0] - a[1] for a, b in zip(track.segments, track.segments[1:], strict=False)]
    assert gaps == pytest.approx([0.3, 0.3], abs=1e-3)
    shown = track.shot_seconds()
    assert sum(shown) == pytest.approx(track.seconds)
    assert all(s > 0.5 for s in shown)
    # The pause between clips is really silent, the speech is not.
    _, data = probe.read_wav(track.path)
    a_end, b_start = track.segments[0][1], track.segments[1][0]
    gap = data[round(a_end * 22050) + 10 : round(b_start * 22050) - 10]
    assert np.abs(gap).max() == 0
    assert wav_stats(track.path).rms > 0.02


def test_concat_converts_rate_and_channels(tmp_path: Path) -> None:
    a = write_tone(tmp_path / "a.wav", 1.0, rate=22050)
    b = write_tone(tmp_path / "b.wav", 2.0, rate=44100, channels=2)
    seconds = concat_wavs([a, b], tmp_path / "out.wav", pause=0.5)
    info = wav_info(tmp_path / "out.wav")
    assert (info.sample_rate, info.channels) == (22050, 1)
    assert seconds == pytest.approx(1.0 + 0.5 + 2.0 + 0.2, abs=1e-3)
    assert info.duration == pytest.approx(seconds)


def test_compose_has_video_audio_subtitles_and_matches_narration(chapter: dict) -> None:
    track = chapter["track"]
    shots = list(zip(chapter["panels"], track.shot_seconds(), strict=True))
    out = chapter["dir"] / "chapter.mp4"
    res = compose_chapter(shots, track.path, chapter["srt"], out, subtitle_language="zh")
    assert res.path == out and out.stat().st_size > 10_000
    assert res.has_video and res.has_audio and res.has_subtitles
    assert res.duration == pytest.approx(track.seconds, abs=0.1)
    info = probe_media(out)
    assert info["codec_types"] == ["audio", "subtitle", "video"]
    codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert codecs["video"] == "h264" and codecs["audio"] == "aac"
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1280, 720)


def test_compose_vfr_writes_one_frame_per_still(chapter: dict, tmp_path: Path) -> None:
    if probe.shutil.which("ffprobe") is None:
        pytest.skip("frame counting needs ffprobe")
    shots = [(p, 2.0) for p in chapter["panels"]]
    out = compose_chapter(shots, None, None, tmp_path / "v.mp4").path
    frames = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets"]
        + ["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert int(frames) == len(shots) + 1  # +1: the repeated last still that ends the stream


def test_compose_clips_long_shots_to_the_audio(chapter: dict, tmp_path: Path) -> None:
    audio = write_tone(tmp_path / "tone.wav", 3.0)
    shots = [(p, 5.0) for p in chapter["panels"]]  # 15 s of panels for 3 s of audio
    res = compose_chapter(shots, audio, None, tmp_path / "c.mp4")
    assert res.has_audio and not res.has_subtitles
    assert res.duration == pytest.approx(3.0, abs=0.1)


def test_compose_holds_last_panel_until_audio_ends(chapter: dict, tmp_path: Path) -> None:
    audio = write_tone(tmp_path / "tone.wav", 6.0)
    shots = [(p, 1.0) for p in chapter["panels"]]
    res = compose_chapter(shots, audio, None, tmp_path / "h.mp4", fps=10)
    assert res.duration == pytest.approx(6.0, abs=0.15)


def test_compose_without_audio(chapter: dict, tmp_path: Path) -> None:
    shots = [(p, 1.5) for p in chapter["panels"]]
    res = compose_chapter(shots, None, None, tmp_path / "silent.mp4")
    assert res.has_video and not res.has_audio
    assert res.duration == pytest.approx(4.5, abs=0.1)


def test_compose_scales_mixed_sizes(chapter: dict, tmp_path: Path) -> None:
    small = OfflinePanelProvider().render("x", {"width": 641, "height": 361}, tmp_path / "s.png")
    shots = [(chapter["panels"][0], 1.0), (small.path, 1.0)]
    res = compose_chapter(shots, None, None, tmp_path / "m.mp4")
    video = next(s for s in probe_media(res.path)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1280, 720)


def test_compose_missing_panel(tmp_path: Path) -> None:
    with pytest.raises(NFError) as err:
        compose_chapter([(tmp_path / "nope.png", 1.0)], None, None, tmp_path / "x.mp4")
    assert err.value.code == "NF-STORAGE-002"


def test_compose_bad_audio_raises_media_001(chapter: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(NFError) as err:
        compose_chapter([(chapter["panels"][0], 1.0)], bad, None, tmp_path / "x.mp4")
    assert err.value.code == "NF-MEDIA-001"


def test_probe_without_ffprobe_parses_ffmpeg_output(
    chapter: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    track = chapter["track"]
    shots = list(zip(chapter["panels"], track.shot_seconds(), strict=True))
    out = compose_chapter(shots, track.path, chapter["srt"], tmp_path / "p.mp4").path
    real = probe_media(out)
    monkeypatch.setattr(probe.shutil, "which", lambda _name: None)
    parsed = probe_media(out)
    assert parsed["source"] == "ffmpeg"
    assert parsed["codec_types"] == real["codec_types"] == ["audio", "subtitle", "video"]
    assert parsed["duration"] == pytest.approx(real["duration"], abs=0.02)
    video = next(s for s in parsed["streams"] if s["codec_type"] == "video")
    audio = next(s for s in parsed["streams"] if s["codec_type"] == "audio")
    assert (video["width"], video["height"]) == (1280, 720)
    assert audio["sample_rate"] == 22050 and audio["channels"] == 1


def test_probe_rejects_non_media(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError):
        probe_media(junk)
    with pytest.raises(FileNotFoundError):
        probe_media(tmp_path / "missing.mp4")


def test_wav_info_clamps_streamed_header(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "s.wav", 1.0)
    raw = bytearray(path.read_bytes())
    data_at = raw.index(b"data")
    raw[data_at + 4 : data_at + 8] = struct.pack("<I", 0xFFFFFFFF)  # as when piped to stdout
    path.write_bytes(bytes(raw))
    assert wav_info(path).duration == pytest.approx(1.0)


def test_wav_stats_of_silence_and_tone(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000)
    st = wav_stats(silent)
    assert st.duration == pytest.approx(1.0) and st.rms == 0 and st.voiced_ratio == 0
    tone = wav_stats(write_tone(tmp_path / "t.wav", 1.0))
    assert tone.rms == pytest.approx(0.3 / np.sqrt(2), rel=0.01)
    assert tone.peak == pytest.approx(0.3, rel=0.01)
