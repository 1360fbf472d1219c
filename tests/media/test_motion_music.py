"""Issue 14: motion (pan + cross-fades), the music bed ducked under speech, vertical and Jianying
exports, the project's video settings, and the SKILL_18 checks that see them. Real ffmpeg,
real espeak-ng narration, real files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nf_services.media import music
from nf_services.media.chapter_video import make_chapter_video
from nf_services.media.composer import compose_chapter, concat_wavs_timed
from nf_services.media.jianying import DraftCue
from nf_services.media.motion import (
    DEFAULT_FPS,
    compose_motion,
    merge_shots,
    segments_for,
    shot_windows,
)
from nf_services.media.video_options import VideoOptions, video_options
from nf_services.providers.offline_image import OfflinePanelProvider
from nf_services.providers.offline_speech import EspeakSpeechProvider
from nf_skills import s18_media_gate as gate
from nf_skills.s21_subtitle import build_subtitles
from shared.errors import NFError
from shared.media_probe import decode_audio, probe_media, read_wav, video_frames_at

LINES = [
    "孙悟空大闹天宫，玉帝急调天兵天将前来捉拿。",
    "那猴王手持金箍棒，打得众神东倒西歪。",
    "唐僧师徒四人晓行夜宿，不觉又是春尽夏来。",
]


@pytest.fixture(scope="module")
def chapter(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("motion")
    panels, clips = [], []
    for i, text in enumerate(LINES, start=1):
        params = {"caption": text, "shot_index": i, "framing": "wide", "title": f"scene {i}"}
        panels.append(OfflinePanelProvider().render(text, params, d / f"{i}.png").path)
        clips.append(EspeakSpeechProvider().speak(text, "cmn", d / f"{i}.wav").path)
    track = concat_wavs_timed(clips, d / "narration.wav", pause=0.6, lead_in=0.5, tail=0.6)
    subs = build_subtitles(1, [(t, s, e) for t, (s, e) in zip(LINES, track.segments, strict=True)])
    srt = d / "chapter.srt"
    srt.write_text(subs.srt, encoding="utf-8")
    shots = list(zip(panels, track.shot_seconds(), strict=True))
    return {"dir": d, "panels": panels, "track": track, "srt": srt, "shots": shots, "subs": subs}


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


# --- motion ---------------------------------------------------------------------------------
def test_motion_frames_change_within_a_shot_and_match_the_narration(chapter, tmp_path) -> None:
    track = chapter["track"]
    res = compose_motion(
        chapter["shots"], track.path, chapter["srt"], tmp_path / "m.mp4", size=(1280, 720)
    )
    info = probe_media(res.path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1280, 720)
    assert res.has_audio and res.has_subtitles
    assert abs(res.duration - track.seconds) < 0.2
    (a, b), *_ = shot_windows(chapter["shots"], track.seconds, DEFAULT_FPS)
    f1, f2 = video_frames_at(res.path, [a + 0.2 * (b - a), a + 0.8 * (b - a)])
    assert _diff(f1, f2) > 1.0  # the pan moved the picture
    # the still path (motion off) shows the same frame all through the shot
    still = compose_chapter(chapter["shots"], track.path, None, tmp_path / "s.mp4")
    s1, s2 = video_frames_at(still.path, [a + 0.2 * (b - a), a + 0.8 * (b - a)])
    assert _diff(s1, s2) < 0.5


def test_cross_fade_blends_two_panels_at_the_cut(chapter, tmp_path) -> None:
    track = chapter["track"]
    res = compose_motion(chapter["shots"], track.path, None, tmp_path / "x.mp4", size=(640, 360))
    (_, cut), *_ = shot_windows(chapter["shots"], track.seconds, DEFAULT_FPS)
    before, mid, after = video_frames_at(res.path, [cut - 1.0, cut + 0.2, cut + 1.0])
    # halfway through the fade the frame is neither the outgoing nor the incoming panel
    assert _diff(mid, before) > 1.0 and _diff(mid, after) > 1.0
    # ... and lies between them
    lo, hi = np.minimum(before, after).astype(int) - 12, np.maximum(before, after).astype(int) + 12
    assert np.mean((mid >= lo) & (mid <= hi)) > 0.9


def test_vertical_export_pans_across_the_wide_panel(chapter, tmp_path) -> None:
    track = chapter["track"]
    res = compose_motion(chapter["shots"], track.path, None, tmp_path / "v.mp4", size=(720, 1280))
    video = next(s for s in probe_media(res.path)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (720, 1280)
    assert gate.check_frame_size(res.path, (720, 1280))[0].passed
    assert not all(f.passed for f in gate.check_frame_size(res.path, (1280, 720)))
    assert gate.check_motion(res.path, shot_windows(chapter["shots"], track.seconds, DEFAULT_FPS))[
        0
    ].passed


def test_segments_merge_repeats_and_sum_to_the_audio(chapter) -> None:
    p1, p2 = chapter["panels"][:2]
    shots = [(p1, 2.0), (p1, 1.5), (p2, 3.0), (p1, 0.01)]
    assert merge_shots(shots) == [(p1, 3.5), (p2, 3.0), (p1, 0.01)]
    segs = segments_for(shots, 6.5, 12)
    assert [s.panel for s in segs] == [p1, p2]  # the 10 ms shot is shorter than a frame
    assert sum(s.frames for s in segs) == round(6.5 * 12)
    with pytest.raises(NFError) as err:
        compose_motion(shots, None, None, Path("/tmp/never.mp4"), size=(640, 360), fps=0)
    assert err.value.code == "NF-MEDIA-001"


# --- music ----------------------------------------------------------------------------------
def test_mood_follows_the_words() -> None:
    assert music.mood_of(["那猴王手持金箍棒，打得众神东倒西歪，一路杀到通明殿外。"]) == "tense"
    assert music.mood_of(["她哭了，泪如雨下，悲从中来。"]) == "sad"
    assert music.mood_of(["They laughed with joy and danced, happy and merry."]) == "bright"
    assert music.mood_of(["The road went on."]) == "calm"


def test_beds_differ_by_mood_and_chapter_and_repeat_exactly() -> None:
    a = music.synthesize_bed(8, 16000, "calm", 1)
    assert np.array_equal(a, music.synthesize_bed(8, 16000, "calm", 1))
    for other in (
        music.synthesize_bed(8, 16000, "tense", 1),
        music.synthesize_bed(8, 16000, "calm", 2),
    ):
        assert float(np.mean(np.abs(a - other))) > 0.01
    assert abs(float(np.max(np.abs(a))) - 1.0) < 1e-5
    with pytest.raises(NFError):
        music.synthesize_bed(2, 16000, "jazzy", 1)


def test_bed_is_ducked_under_speech(chapter, tmp_path) -> None:
    track = chapter["track"]
    mix = music.mix_bed(track.path, track.segments, tmp_path / "mix.wav", mood="calm", seed=1)
    _, speech = read_wav(track.path)
    _, mixed = read_wav(mix.path)
    bed = mixed[:, 0] - speech[:, 0]  # what the mixer added
    rate = read_wav(track.path)[0].sample_rate

    raw = music.BED_LEVEL * music.synthesize_bed(len(bed) / rate, rate, "calm", 1)[: len(bed)]

    def gain(a: float, b: float) -> float:
        """RMS of what was added over RMS of the bed at full level, between a and b seconds."""
        x, y = bed[int(a * rate) : int(b * rate)], raw[int(a * rate) : int(b * rate)]
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) / np.mean(np.square(y))))

    (s0, e0), *_ = track.segments
    assert gain(0.05, 0.3) == pytest.approx(1.0, abs=0.05)  # the lead-in: full level
    assert gain(s0 + 0.1, e0 - 0.1) == pytest.approx(music.DUCK_GAIN, abs=0.05)  # under speech
    env = music.duck_envelope(rate * 3, rate, [(1.0, 2.0)])
    assert env[int(0.2 * rate)] == pytest.approx(1.0, abs=1e-3)
    assert env[int(1.5 * rate)] == pytest.approx(music.DUCK_GAIN, abs=1e-3)
    assert env[int(2.1 * rate)] < env[int(2.45 * rate)] < 1.0  # released gradually


# --- SKILL_18 -------------------------------------------------------------------------------
def test_gate_hears_the_bed_and_sees_the_motion(chapter, tmp_path) -> None:
    track = chapter["track"]
    mix = music.mix_bed(track.path, track.segments, tmp_path / "mix.wav", mood="tense", seed=3)
    with_bed = compose_motion(chapter["shots"], mix.path, None, tmp_path / "b.mp4", size=(640, 360))
    windows = shot_windows(chapter["shots"], track.seconds, DEFAULT_FPS)
    result = gate.composed_video_gate(
        with_bed.path,
        track.seconds,
        size=(640, 360),
        shot_windows=windows,
        speech_segments=track.segments,
    )
    rules = {f.rule: f for f in result.findings}
    assert result.passed, [f for f in result.findings if not f.passed]
    assert {"video.motion", "audio.bed_present", "audio.bed_below_speech", "video.width"} <= set(
        rules
    )
    assert rules["audio.bed_below_speech"].value >= 6.0
    # narration alone: no bed in the pauses
    bare = compose_motion(chapter["shots"], track.path, None, tmp_path / "n.mp4", size=(640, 360))
    [present, _] = gate.check_audio_bed(bare.path, track.segments)
    assert not present.passed
    # a bed as loud as the voice is refused
    loud = music.mix_bed(
        track.path, track.segments, tmp_path / "l.wav", mood="tense", seed=3, level=0.5
    )
    loud_mp4 = compose_motion(
        chapter["shots"], loud.path, None, tmp_path / "l.mp4", size=(640, 360)
    )
    [_, below] = gate.check_audio_bed(loud_mp4.path, track.segments)
    assert not below.passed
    # a still video has no motion
    still = compose_chapter(chapter["shots"], track.path, None, tmp_path / "s.mp4")
    [motion] = gate.check_motion(still.path, windows)
    assert not motion.passed and motion.value < 0.5
    assert len(decode_audio(with_bed.path)) > 16000


# --- project settings and exports -----------------------------------------------------------
def test_video_options_defaults_and_refusals() -> None:
    assert video_options({}) == VideoOptions()
    assert VideoOptions().motion and VideoOptions().music
    opts = video_options({"video": {"music": False, "exports": ["9:16", "jianying", "9:16"]}})
    assert opts.exports == ("9:16", "jianying") and not opts.music
    for bad in (
        {"video": []},
        {"video": {"musik": True}},
        {"video": {"music": "yes"}},
        {"video": {"fps": 0}},
        {"video": {"exports": ["4:3"]}},
        {"video": {"music_level": 2}},
    ):
        with pytest.raises(NFError) as err:
            video_options(bad)
        assert err.value.code == "NF-MEDIA-004"


def test_chapter_video_with_vertical_and_jianying_exports(chapter, tmp_path) -> None:
    track = chapter["track"]
    cues = [DraftCue(c.start, c.end, c.text) for c in chapter["subs"].cues]
    made = make_chapter_video(
        1,
        chapter["shots"],
        track.path,
        track.segments,
        LINES,
        chapter["srt"],
        cues,
        tmp_path,
        VideoOptions(exports=("9:16", "jianying")),
    )
    assert (made.width, made.height, made.fps) == (1280, 720, DEFAULT_FPS)
    assert made.mood in music.MOODS and made.bed_level > 0
    assert set(made.exports) == {"9:16", "jianying"}
    vertical = next(
        s for s in probe_media(made.exports["9:16"])["streams"] if s["codec_type"] == "video"
    )
    assert (vertical["width"], vertical["height"]) == (720, 1280)
    with zipfile.ZipFile(made.exports["jianying"]) as z:
        names = set(z.namelist())
        draft = json.loads(z.read("draft_content.json"))
    assert {"draft_content.json", "draft_meta_info.json"} <= names
    kinds = [t["type"] for t in draft["tracks"]]
    assert kinds == ["video", "audio", "audio", "text"]  # panels, narration, bed, subtitles
    segs = draft["tracks"][0]["segments"]
    assert len(segs) == len(merge_shots(chapter["shots"]))
    assert abs(sum(s["target_timerange"]["duration"] for s in segs) / 1e6 - track.seconds) < 0.05
    assert all(
        m["path"] in names for m in draft["materials"]["videos"] + draft["materials"]["audios"]
    )
    assert len(draft["tracks"][3]["segments"]) == len(cues)
    # music off, motion off: the stills path, narration only
    plain = make_chapter_video(
        1,
        chapter["shots"],
        track.path,
        track.segments,
        LINES,
        chapter["srt"],
        cues,
        tmp_path / "plain",
        VideoOptions(motion=False, music=False),
    )
    assert plain.fps is None and plain.mood is None and plain.exports == {}
