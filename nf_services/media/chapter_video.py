"""Everything after the panels and narration exist, for one chapter: the music bed mixed under
the narration, the main MP4 (motion or the fast stills path), the exports the project asks for
(a vertical MP4, a Jianying draft). Works on local files in a scratch directory; the executor
puts the results in the artifact store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from nf_services.media import composer, jianying, motion, music
from nf_services.media.video_options import FORMATS, VideoOptions, format_of
from shared.media_probe import wav_duration


@dataclass(frozen=True)
class ChapterFiles:
    mp4: Path
    width: int
    height: int
    fps: int | None  # None: one frame per still (motion off)
    seconds: float
    has_video: bool
    has_audio: bool
    mood: str | None  # the music bed's mood; None when music is off
    bed_level: float
    shot_windows: list[tuple[float, float]]  # each merged shot's span in the video
    encode_seconds: float
    exports: dict[str, Path] = field(default_factory=dict)  # "9:16" -> mp4, "jianying" -> zip


def make_chapter_video(
    chapter_index: int,
    shots: list[tuple[Path, float]],
    narration: Path,
    segments: list[tuple[float, float]],
    texts: list[str],
    srt: Path,
    cues: list[jianying.DraftCue],
    scratch: Path,
    options: VideoOptions,
    *,
    title: str = "",
) -> ChapterFiles:
    audio = narration
    mood = None
    if options.music:
        mood = music.mood_of(texts)
        audio = music.mix_bed(
            narration,
            segments,
            scratch / "mix.wav",
            mood=mood,
            seed=chapter_index,
            level=options.music_level,
        ).path
    with Image.open(shots[0][0]) as im:
        size = (im.width - im.width % 2, im.height - im.height % 2)
    main_format = format_of(*size)
    mp4 = scratch / "chapter.mp4"
    if options.motion:
        res = motion.compose_motion(
            shots, audio, srt, mp4, size=size, fps=options.fps, crossfade=options.crossfade
        )
        target = wav_duration(audio)
        windows = motion.shot_windows(shots, target, options.fps)
        fps: int | None = options.fps
    else:
        res = composer.compose_chapter(shots, audio, srt, mp4)
        windows, fps = [], None
    encode = res.encode_seconds
    exports: dict[str, Path] = {}
    for name in options.exports:
        if name in FORMATS and name != main_format:
            out = scratch / f"chapter-{name.replace(':', 'x')}.mp4"
            extra = motion.compose_motion(
                shots,
                audio,
                srt,
                out,
                size=FORMATS[name],
                fps=options.fps,
                crossfade=options.crossfade if options.motion else 0.0,
            )
            encode += extra.encode_seconds
            exports[name] = out
        elif name == "jianying":
            audios = [(narration, 1.0)]
            if options.music:
                bed = music.mix_bed(
                    narration,
                    segments,
                    scratch / "bed.wav",
                    mood=mood or "calm",
                    seed=chapter_index,
                    level=options.music_level,
                    bed_only=True,
                ).path
                audios.append((bed, 1.0))
            exports[name] = jianying.write_draft(
                scratch / "chapter.jianying.zip",
                title or f"chapter {chapter_index}",
                motion.merge_shots(shots),
                audios,
                cues,
                size,
            )
    return ChapterFiles(
        mp4=mp4,
        width=size[0],
        height=size[1],
        fps=fps,
        seconds=res.duration,
        has_video=res.has_video,
        has_audio=res.has_audio,
        mood=mood,
        bed_level=options.music_level if options.music else 0.0,
        shot_windows=windows,
        encode_seconds=encode,
        exports=exports,
    )
