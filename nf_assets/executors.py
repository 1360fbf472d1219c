"""Executors: the per-chapter media work (panels, narration, video) that runs in a process pool.

Each function takes one picklable payload and returns an `Outcome`. The degradation loop lives
here because it must re-render: when a provider fails for good, or SKILL_18 rejects what it made,
the item is rendered again by the next provider of the fallback chain (configured provider ->
offline provider -> the simple offline variant), at most MAX_DEGRADATIONS times per item, and
every step is reported back so the recorder writes `gate.degraded` events.

Provider calls run under a `health.HealthPolicy` (circuit breaker thresholds and the run's
provider deadline) taken from the settings when the work is created in the op, so pool workers
follow the op's settings; its run key is the Dagster run id. Every call, failed or skipped ones
too, is reported in `Outcome.usages` for the usage ledger. A fallback taken because the
configured provider did not deliver makes the outcome `degraded`: the recorder serves it for
this run but does not cache it, so the next run tries the provider again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nf_services.media import composer
from nf_services.media.chapter_video import make_chapter_video
from nf_services.media.jianying import DraftCue
from nf_services.media.video_options import VideoOptions
from nf_services.providers import health
from nf_services.providers.registry import build_provider
from nf_services.skill_cache import FileArtifact, Outcome
from nf_skills import s18_media_gate, s21_subtitle
from nf_skills.contracts import CompiledPrompt, Frozen, GateFinding, GateResult, Subtitles
from shared.errors import NFError
from shared.retry import call_with_retry
from shared.storage import StoreSpec, open_store

MAX_DEGRADATIONS = 2
PAUSE_SECONDS = 0.25  # between narration clips


class PanelRef(Frozen):
    shot_index: int
    path: str  # store-relative
    width: int
    height: int
    provider: str
    # prompt hash + provider config; empty when a fallback made it (not reused by a
    # regeneration, which re-renders it instead)
    item_key: str = ""


class ClipRef(Frozen):
    shot_index: int
    path: str
    seconds: float
    text: str
    provider: str
    item_key: str = ""


class ChapterMedia(Frozen):
    chapter_index: int
    panels: list[PanelRef]
    clips: list[ClipRef]
    narration_path: str
    narration_seconds: float
    segments: list[tuple[float, float]]  # (start, end) of each clip in the narration track
    gate: GateResult
    degradations: list[dict[str, Any]]


class ChapterVideo(Frozen):
    chapter_index: int
    mp4_path: str
    srt_path: str
    vtt_path: str
    seconds: float
    narration_seconds: float
    has_video: bool
    has_audio: bool
    degradations: list[dict[str, Any]]
    # issue 14: what the composer made, for SKILL_18 and the export record (defaults read the
    # cached outputs of COMPOSER_VERSION 1)
    width: int = 0
    height: int = 0
    fps: int | None = None  # None: one frame per still, no motion
    mood: str | None = None  # the music bed's mood; None: no music
    bed_level: float = 0.0
    shot_windows: list[tuple[float, float]] = []
    exports: dict[str, str] = {}  # "9:16" -> mp4 path, "jianying" -> draft zip path


def run_health_policy() -> health.HealthPolicy:
    """The settings' provider health policy for the current Dagster run (its budget is shared by
    every call of the run in one process); outside a run, one budget per policy scope."""
    run_key = None
    try:
        import dagster as dg

        run_key = dg.OpExecutionContext.get().run_id
    except Exception:  # noqa: BLE001 - no op context (benchmarks, direct calls)
        run_key = None
    return health.HealthPolicy.from_settings(run_key=run_key)


@dataclass(frozen=True)
class MediaJob:
    chapter_index: int
    prompts: list[CompiledPrompt]
    image_config: dict
    speech_config: dict
    store: StoreSpec  # the run's artifact store, rebuilt in the worker
    retry_scale: float = 1.0
    # item_key -> the chapter's previous PanelRef/ClipRef (as dicts): what a shot regeneration
    # keeps (nf_services/shots.py); not part of the cache key
    reuse: dict = field(default_factory=dict)
    # built in the op (where the settings and the run id are), used in the pool worker
    health_policy: health.HealthPolicy = field(default_factory=run_health_policy)


@lru_cache(maxsize=16)
def _provider(capability: str, config_key: str) -> Any:
    # providers are cached per worker process: espeak lookup / HTTP clients are built once
    return build_provider(capability, json.loads(config_key))


def _freeze(section: dict) -> str:
    return json.dumps({k: v for k, v in section.items() if k != "simple"}, sort_keys=True)


def _chain(capability: str, config: dict) -> list[tuple[str, dict]]:
    """Fallback chain: configured provider, then offline, then the offline simple variant
    (`_simple_panel` / `_plain_voice`)."""
    chain = []
    if config.get("kind", "offline") != "offline":
        chain.append(("configured", config))
    chain.append(("offline", {"kind": "offline"}))
    chain.append(("simple", {"kind": "offline", "simple": True}))
    return chain


def _attempt(capability: str, section: dict, call, outcome: Outcome, scale: float):
    provider = _provider(capability, _freeze(section))
    simple = section.get("simple", False)

    def once():
        try:
            return call(provider, simple)
        except NFError as exc:  # every failed (or skipped) call goes to the usage ledger
            outcome.usages.append(health.failed_usage(provider, capability, exc))
            raise

    def on_retry(attempt: int, exc: NFError, delay: float) -> None:
        outcome.retries.append(
            {
                "attempt": attempt,
                "error_code": exc.code,
                "delay": round(delay, 3),
                "provider": provider.name,
            }
        )

    # waits between retries of a remote provider count against the run's provider deadline
    remote = section.get("kind", "offline") != "offline"
    sleep = health.active().sleep if remote else time.sleep
    return provider, call_with_retry(once, on_retry=on_retry, scale=scale, sleep=sleep)


def _render_with_fallback(capability, config, call, check, item_label, outcome, scale):
    """Run `call` down the fallback chain until `check(result)` passes; record degradations."""
    chain = _chain(capability, config)[: MAX_DEGRADATIONS + 1]
    last_error: NFError | None = None
    for step, (label, section) in enumerate(chain):
        try:
            provider, result = _attempt(capability, section, call, outcome, scale)
        except NFError as exc:
            last_error = exc
            reason, code = f"provider failed: {exc.detail}", exc.code
        else:
            failure = check(result)
            if failure is None:
                return provider, result
            outcome.usages.append(result.usage)  # made (and maybe paid for), then rejected
            last_error = NFError("NF-GATE-002", failure)
            reason, code = f"media gate: {failure}", "NF-GATE-002"
        if step + 1 < len(chain):
            outcome.degradations.append(
                {
                    "item": item_label,
                    "attempt": step + 1,
                    "from": label,
                    "fallback": chain[step + 1][0],
                    "reason": reason[:300],
                    "error_code": code,
                }
            )
    # the calls made so far go with the error, so the ledger has them though the chapter failed
    raise NFError(
        "NF-GATE-003", f"{item_label}: no fallback left ({last_error})", usages=outcome.usages
    )


REFINE_SYSTEM = (
    "Rewrite this storyboard shot description as one concise prompt for an image model. "
    "Keep every character name, the framing and the caption's meaning. Answer with the prompt "
    "only."
)


def refine_image_prompts(
    prompts: list[CompiledPrompt],
    chat_config: dict,
    retry_scale: float = 1.0,
    policy: health.HealthPolicy | None = None,
) -> Outcome:
    """SKILL_20's text step on a chat provider: each image prompt rewritten by the model. A
    prompt the provider cannot refine (after retries, or at once while its breaker is open or
    the run's provider deadline is spent) keeps its compiled text: a degradation, recorded,
    never a failed chapter."""
    with health.guarded(policy or run_health_policy()):
        return _refine(prompts, chat_config, retry_scale)


def _refine(prompts: list[CompiledPrompt], chat_config: dict, retry_scale: float) -> Outcome:
    outcome = Outcome(output=None)
    refined = []
    for p in prompts:
        if p.kind != "image":
            refined.append(p)
            continue
        try:
            provider, reply = _attempt(
                "chat",
                chat_config,
                lambda prov, _simple, p=p: prov.chat(REFINE_SYSTEM, p.prompt, max_tokens=200),
                outcome,
                retry_scale,
            )
        except NFError as exc:
            outcome.degradations.append(
                {
                    "item": f"prompt {p.chapter_index}/{p.shot_index}",
                    "attempt": 1,
                    "from": "chat",
                    "fallback": "compiled prompt",
                    "reason": exc.detail[:300],
                    "error_code": exc.code,
                }
            )
            refined.append(p)
            continue
        outcome.usages.append(reply.usage)
        outcome.provider = provider.name
        text = reply.text.strip() or p.prompt
        digest = hashlib.sha256(f"{p.prompt_hash}\n{provider.name}\n{text}".encode()).hexdigest()
        refined.append(p.model_copy(update={"prompt": text, "prompt_hash": digest}))
    outcome.output = refined
    return outcome


def render_chapter_media(job: MediaJob) -> Outcome:
    """Panels and narration for one chapter, gated by SKILL_18 with degradation."""
    with health.guarded(job.health_policy):
        return _render_chapter_media(job)


def _render_chapter_media(job: MediaJob) -> Outcome:
    store = open_store(job.store)
    outcome = Outcome(output=None)
    panels: list[PanelRef] = []
    clips: list[ClipRef] = []
    providers: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="nf-media-") as tmp:
        scratch = Path(tmp)
        for p in job.prompts:
            key = item_key(p, job.image_config if p.kind == "image" else job.speech_config)
            if key in job.reuse:  # a regeneration of another shot: this one is kept as it was
                _reuse(job.reuse[key], store, outcome, panels, clips, job.chapter_index)
                continue
            before = len(outcome.degradations)
            out = scratch / f"{p.kind}-{p.shot_index}.{'png' if p.kind == 'image' else 'wav'}"
            if p.kind == "image":
                w, h = int(p.params.get("width", 1280)), int(p.params.get("height", 720))
                provider, res = _render_with_fallback(
                    "image",
                    job.image_config,
                    lambda prov, simple, p=p, out=out: prov.render(
                        p.prompt, _simple_panel(p.params) if simple else p.params, out
                    ),
                    lambda r, w=w, h=h: _first_failure(s18_media_gate.check_image(r.path, (w, h))),
                    f"panel {p.shot_index}",
                    outcome,
                    job.retry_scale,
                )
                blob = store.put_file(res.path, "png")
                outcome.files.append(
                    FileArtifact(
                        "png",
                        blob.path,
                        blob.sha256,
                        blob.size_bytes,
                        "image/png",
                        job.chapter_index,
                    )
                )
                panels.append(
                    PanelRef(
                        shot_index=p.shot_index,
                        path=blob.path,
                        width=res.width,
                        height=res.height,
                        provider=provider.name,
                        item_key=key if len(outcome.degradations) == before else "",
                    )
                )
            else:
                text = str(p.params.get("text") or p.prompt)
                provider, res = _render_with_fallback(
                    "speech",
                    job.speech_config,
                    lambda prov, simple, p=p, out=out, text=text: prov.speak(
                        text,
                        _plain_voice(text) if simple else str(p.params.get("voice")),
                        out,
                        rate=int(p.params.get("rate", 170)),
                        **_pitch(prov, p.params, simple),
                    ),
                    lambda r: _first_failure(s18_media_gate.check_audio(r.path)),
                    f"narration {p.shot_index}",
                    outcome,
                    job.retry_scale,
                )
                blob = store.put_file(res.path, "wav")
                clips.append(
                    ClipRef(
                        shot_index=p.shot_index,
                        path=blob.path,
                        seconds=res.seconds,
                        text=text,
                        provider=provider.name,
                        item_key=key if len(outcome.degradations) == before else "",
                    )
                )
            providers.add(provider.name)
            outcome.usages.append(res.usage)
        track = scratch / "narration.wav"
        narration = composer.concat_wavs_timed(
            [store.local_path(c.path) for c in clips], track, pause=PAUSE_SECONDS
        )
        blob = store.put_file(track, "wav")
        outcome.files.append(
            FileArtifact(
                "wav", blob.path, blob.sha256, blob.size_bytes, "audio/wav", job.chapter_index
            )
        )
    size = (panels[0].width, panels[0].height) if panels else None
    gate = s18_media_gate.media_gate(
        images=[store.local_path(pn.path) for pn in panels],
        expected_size=size,
        audio=[(store.local_path(blob.path), None)],
    )
    outcome.output = ChapterMedia(
        chapter_index=job.chapter_index,
        panels=panels,
        clips=clips,
        narration_path=blob.path,
        narration_seconds=narration.seconds,
        segments=narration.segments,
        gate=gate,
        degradations=list(outcome.degradations),
    )
    outcome.provider = ",".join(sorted(providers))
    return outcome


def item_key(prompt: CompiledPrompt, config: dict) -> str:
    """One panel's or clip's identity: its prompt hash and the provider config that made it."""
    return hashlib.sha256(f"{prompt.prompt_hash}\n{_freeze(config)}".encode()).hexdigest()


def reusable_items(media: ChapterMedia) -> dict[str, dict]:
    """item_key -> ref of the chapter's panels and clips that a fallback did not make."""
    refs = [("image", r) for r in media.panels] + [("speech", r) for r in media.clips]
    return {r.item_key: {"kind": kind, **r.model_dump()} for kind, r in refs if r.item_key}


def _reuse(ref: dict, store, outcome: Outcome, panels: list, clips: list, chapter: int) -> None:
    ref = dict(ref)
    kind = ref.pop("kind")
    if kind == "image":
        panel = PanelRef(**ref)
        sha = Path(panel.path).stem  # the store is content-addressed: the name is the sha256
        outcome.files.append(
            FileArtifact(
                "png",
                panel.path,
                sha,
                store.local_path(panel.path).stat().st_size,
                "image/png",
                chapter,
            )
        )
        panels.append(panel)
    else:
        clips.append(ClipRef(**ref))


def _pitch(provider: Any, params: dict, simple: bool) -> dict:
    """SKILL_11's pitch for the providers that take one (espeak-ng, piper): with the voice and
    rate it is what tells two characters apart."""
    if simple or not getattr(provider, "accepts_pitch", False) or params.get("pitch") is None:
        return {}
    return {"pitch": int(params["pitch"])}


def _simple_panel(params: dict) -> dict:
    """The simple variant: a wide title card with the caption, no figures."""
    return {**params, "framing": "wide", "characters": [], "character_colours": {}}


def _plain_voice(text: str) -> str:
    """The simple variant: the engine's default voice for the text's language."""
    return "en" if all(ord(ch) < 0x2E80 for ch in text) else "cmn"


def _first_failure(findings: list[GateFinding]) -> str | None:
    bad = [f for f in findings if not f.passed]
    return (
        None if not bad else "; ".join(f"{f.rule}={f.value:.3g} vs {f.threshold:.3g}" for f in bad)
    )


def chapter_subtitles(media: ChapterMedia) -> Subtitles:
    """SKILL_21 cues from the narration clips' real timing."""
    lines = [
        (c.text, start, end) for c, (start, end) in zip(media.clips, media.segments, strict=True)
    ]
    return s21_subtitle.build_subtitles(media.chapter_index, lines)


@dataclass(frozen=True)
class ComposeJob:
    media: ChapterMedia
    subtitles: Subtitles
    store: StoreSpec
    video: dict = field(default_factory=dict)  # VideoOptions.as_dict(): motion, music, exports
    title: str = ""


def compose_chapter_video(job: ComposeJob) -> Outcome:
    store = open_store(job.store)
    media = job.media
    outcome = Outcome(output=None)
    shots = _shot_timeline(media)
    with tempfile.TemporaryDirectory(prefix="nf-compose-") as tmp:
        scratch = Path(tmp)
        srt, vtt = scratch / "subs.srt", scratch / "subs.vtt"
        srt.write_text(job.subtitles.srt, encoding="utf-8")
        vtt.write_text(job.subtitles.vtt, encoding="utf-8")
        made = make_chapter_video(
            media.chapter_index,
            [(store.local_path(path), secs) for path, secs in shots],
            store.local_path(media.narration_path),
            media.segments,
            [c.text for c in media.clips],
            srt,
            [DraftCue(c.start, c.end, c.text) for c in job.subtitles.cues],
            scratch,
            VideoOptions(**{**job.video, "exports": tuple(job.video.get("exports", ()))}),
            title=job.title,
        )
        result = made
        blobs = {
            ext: store.put_file(f, ext)
            for ext, f in (("mp4", made.mp4), ("srt", srt), ("vtt", vtt))
        }
        extra = {
            name: store.put_file(f, "zip" if name == "jianying" else "mp4")
            for name, f in made.exports.items()
        }
    mimes = {"mp4": "video/mp4", "srt": "application/x-subrip", "vtt": "text/vtt"}
    outcome.files = [
        FileArtifact(ext, b.path, b.sha256, b.size_bytes, mimes[ext], media.chapter_index)
        for ext, b in blobs.items()
    ] + [
        FileArtifact(
            "zip" if name == "jianying" else "mp4",
            b.path,
            b.sha256,
            b.size_bytes,
            "application/zip" if name == "jianying" else "video/mp4",
            media.chapter_index,
        )
        for name, b in extra.items()
    ]
    outcome.output = ChapterVideo(
        chapter_index=media.chapter_index,
        mp4_path=blobs["mp4"].path,
        srt_path=blobs["srt"].path,
        vtt_path=blobs["vtt"].path,
        seconds=result.seconds,
        narration_seconds=media.narration_seconds,
        has_video=result.has_video,
        has_audio=result.has_audio,
        degradations=media.degradations,
        width=made.width,
        height=made.height,
        fps=made.fps,
        mood=made.mood,
        bed_level=made.bed_level,
        shot_windows=made.shot_windows,
        exports={name: b.path for name, b in extra.items()},
    )
    outcome.provider = "ffmpeg"
    return outcome


def _shot_timeline(media: ChapterMedia) -> list[tuple[str, float]]:
    """Each clip shows the latest panel at or before its shot (plans may reuse images), from
    its speech start to the next clip's."""
    by_shot = {p.shot_index: p.path for p in media.panels}
    current = media.panels[0].path if media.panels else None
    durations = composer.shot_durations(media.segments, media.narration_seconds)
    timeline: list[tuple[str, float]] = []
    for clip, seconds in zip(media.clips, durations, strict=True):
        current = by_shot.get(clip.shot_index, current)
        if current is None:
            raise NFError("NF-MEDIA-003", f"chapter {media.chapter_index} has no panel")
        timeline.append((current, seconds))
    return timeline
