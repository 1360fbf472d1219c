"""A Jianying (剪映) / CapCut draft of a chapter, written as the draft JSON itself (no extra
dependency): one zip holding `draft_content.json`, `draft_meta_info.json` and the media under
`materials/` (the panels, the narration, the music bed), so an editor gets every shot as a
separate clip on the video track, the narration and the bed on two audio tracks and the
subtitles as text segments, all timed as in the MP4.

Times are in microseconds as the format wants. Material paths are relative to the draft folder:
unzip it into the editor's drafts folder (Jianying asks to relink media whose path moved).
"""

from __future__ import annotations

import json
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from shared.media_probe import wav_duration

US = 1_000_000


@dataclass(frozen=True)
class DraftCue:
    start: float
    end: float
    text: str


def _id(*parts: object) -> str:
    # stable ids: the same chapter gives the same draft
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "nf-draft:" + ":".join(map(str, parts)))).upper()


def _segment(mid: str, sid: str, start: float, dur: float, *, render: int, volume: float = 1.0):
    return {
        "id": sid,
        "material_id": mid,
        "target_timerange": {"start": round(start * US), "duration": round(dur * US)},
        "source_timerange": {"start": 0, "duration": round(dur * US)},
        "speed": 1.0,
        "volume": volume,
        "visible": True,
        "render_index": render,
        "clip": {
            "alpha": 1.0,
            "flip": {"horizontal": False, "vertical": False},
            "rotation": 0.0,
            "scale": {"x": 1.0, "y": 1.0},
            "transform": {"x": 0.0, "y": 0.0},
        },
        "extra_material_refs": [],
    }


def draft_content(
    name: str,
    shots: list[tuple[str, float, int, int]],
    audios: list[tuple[str, float, float]],
    cues: list[DraftCue],
    size: tuple[int, int],
) -> dict:
    """The draft JSON. shots: (relative path, seconds, width, height); audios: (relative path,
    seconds, volume)."""
    w, h = size
    videos, v_segs, t = [], [], 0.0
    for k, (path, secs, pw, ph) in enumerate(shots):
        mid = _id(name, "photo", k, path)
        videos.append(
            {
                "id": mid,
                "type": "photo",
                "path": path,
                "material_name": Path(path).name,
                "duration": 10_800 * US,  # a still can be stretched to any length
                "width": pw,
                "height": ph,
                "category_name": "local",
            }
        )
        v_segs.append(_segment(mid, _id(name, "vseg", k), t, secs, render=0))
        t += secs
    total = t
    audio_mats, tracks = [], [{"id": _id(name, "vtrack"), "type": "video", "segments": v_segs}]
    for k, (path, secs, volume) in enumerate(audios):
        mid = _id(name, "audio", k, path)
        audio_mats.append(
            {
                "id": mid,
                "type": "extract_music",
                "path": path,
                "name": Path(path).name,
                "duration": round(secs * US),
                "category_name": "local",
            }
        )
        seg = _segment(mid, _id(name, "aseg", k), 0.0, secs, render=0, volume=volume)
        tracks.append({"id": _id(name, "atrack", k), "type": "audio", "segments": [seg]})
    texts, t_segs = [], []
    for k, cue in enumerate(cues):
        mid = _id(name, "text", k)
        content = {"text": cue.text, "styles": [{"range": [0, len(cue.text)], "size": 8.0}]}
        texts.append(
            {"id": mid, "type": "subtitle", "content": json.dumps(content, ensure_ascii=False)}
        )
        seg = _segment(
            mid, _id(name, "tseg", k), cue.start, max(0.04, cue.end - cue.start), render=14000
        )
        seg["clip"]["transform"] = {"x": 0.0, "y": -0.8}
        t_segs.append(seg)
    if t_segs:
        tracks.append({"id": _id(name, "ttrack"), "type": "text", "segments": t_segs})
    return {
        "id": _id(name, "draft"),
        "name": name,
        "canvas_config": {"width": w, "height": h, "ratio": "original"},
        "duration": round(total * US),
        "fps": 30.0,
        "materials": {"videos": videos, "audios": audio_mats, "texts": texts},
        "tracks": tracks,
        "version": 360000,
        "platform": {"app_source": "nf", "os": "linux"},
    }


def write_draft(
    out_zip: Path,
    name: str,
    shots: list[tuple[Path, float]],
    audios: list[tuple[Path, float]],
    cues: list[DraftCue],
    size: tuple[int, int],
) -> Path:
    """The draft folder as a zip: JSON + media under materials/. audios: (wav, volume)."""
    from PIL import Image

    out_zip = Path(out_zip)
    rel_shots, members = [], {}
    for path, secs in shots:
        rel = f"materials/{Path(path).name}"
        members[rel] = Path(path)
        with Image.open(path) as im:
            rel_shots.append((rel, secs, im.width, im.height))
    rel_audio = []
    for k, (path, volume) in enumerate(audios):
        rel = f"materials/audio{k}{Path(path).suffix}"
        members[rel] = Path(path)
        rel_audio.append((rel, wav_duration(path), volume))
    content = draft_content(name, rel_shots, rel_audio, cues, size)
    meta = {
        "draft_name": name,
        "draft_id": content["id"],
        "tm_duration": content["duration"],
        "draft_materials": [{"type": 0, "value": [{"file_Path": m} for m in members]}],
    }
    tmp = out_zip.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("draft_content.json", json.dumps(content, ensure_ascii=False, indent=1))
        z.writestr("draft_meta_info.json", json.dumps(meta, ensure_ascii=False, indent=1))
        for rel, src in members.items():
            z.write(src, rel, compress_type=zipfile.ZIP_STORED)  # PNG/WAV: already dense
    tmp.replace(out_zip)
    return out_zip
