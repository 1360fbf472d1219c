"""An offline background bed per chapter: synthesized with numpy, mood from the text, ducked
under the narration.

No samples ship with nf: a bed is a slow chord progression (soft additive pad), an arpeggio of
plucked notes and, for tense scenes, a low pulse. The mood picks key, mode, tempo and timbre; the
chapter index seeds the progression so chapters differ but a re-run gives the same bed. Ducking
is a gain envelope built from the speech segments (attack 0.12 s, release 0.5 s): the bed sits at
BED_LEVEL in pauses and DUCK_GAIN lower under speech.
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.errors import NFError
from shared.media_probe import read_wav

MOODS = ("calm", "bright", "sad", "tense")
BED_LEVEL = 0.09  # bed peak in pauses (about -21 dBFS); espeak speech peaks at 0.5-0.9
DUCK_GAIN = 0.35  # bed under speech: about -9 dB lower still
ATTACK_S, RELEASE_S = 0.12, 0.5
CONTROL_RATE = 1000  # gain-curve points per second

# Keywords that move a chapter's mood (zh characters/words and English stems).
_LEXICON: dict[str, tuple[str, ...]] = {
    "tense": (
        "打", "杀", "战", "斗", "怒", "妖", "魔", "刀", "枪", "棒", "血", "追", "逃", "吼",
        "fight", "kill", "battle", "sword", "blood", "angry", "rage", "chase", "scream",
    ),
    "sad": (
        "哭", "泪", "悲", "死", "苦", "愁", "叹", "病", "孤", "别",
        "cry", "tears", "weep", "sad", "death", "dead", "sorrow", "grief", "alone",
    ),
    "bright": (
        "笑", "喜", "乐", "欢", "贺", "宴", "春", "花",
        "laugh", "smil", "joy", "happy", "delight", "dance", "merry", "cheer",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class MoodSpec:
    root_hz: float
    minor: bool
    bpm: float
    brightness: float  # weight of the upper harmonics
    pulse: bool


SPECS = {
    "calm": MoodSpec(196.00, False, 66, 0.25, False),  # G major, slow
    "bright": MoodSpec(261.63, False, 92, 0.45, False),  # C major
    "sad": MoodSpec(220.00, True, 58, 0.15, False),  # A minor
    "tense": MoodSpec(146.83, True, 104, 0.55, True),  # D minor with a pulse
}


def mood_of(texts: list[str]) -> str:
    """The chapter's mood: the lexicon group with the most hits per 1,000 characters, when it
    has at least 2 per 1,000; else calm."""
    text = " ".join(texts).lower()
    if not text.strip():
        return "calm"
    per_k = {
        m: sum(text.count(w) for w in words) * 1000 / len(text) for m, words in _LEXICON.items()
    }
    mood, score = max(per_k.items(), key=lambda kv: (kv[1], kv[0]))
    return mood if score >= 2.0 else "calm"


def _progression(seed: int, minor: bool) -> list[list[int]]:
    """Four chords as semitone offsets from the root (triads in the key)."""
    major = [[0, 4, 7], [5, 9, 12], [7, 11, 14], [9, 12, 16], [2, 5, 9]]
    minor_ = [[0, 3, 7], [5, 8, 12], [7, 10, 14], [8, 12, 15], [3, 7, 10]]
    pool = minor_ if minor else major
    rng = np.random.default_rng(seed)
    return [pool[0]] + [pool[int(i)] for i in rng.integers(1, len(pool), size=3)]


def synthesize_bed(seconds: float, sample_rate: int, mood: str, seed: int) -> np.ndarray:
    """Mono float32 bed of `seconds`, peak-normalised to 1.0 (the mixer sets the level).

    One loop of the progression (four bars) is synthesized, its ringing tail wrapped onto its
    start so the loop tiles seamlessly, then tiled: ~0.1 s for any chapter length."""
    if mood not in SPECS:
        raise NFError("NF-MEDIA-001", f"unknown music mood {mood!r}; expected one of {MOODS}")
    spec = SPECS[mood]
    beat = 60.0 / spec.bpm
    bar = 4 * beat
    chords = _progression(seed, spec.minor)
    loop_n = round(len(chords) * bar * sample_rate)
    tail = round(1.5 * bar * sample_rate)
    raw = _loop(spec, chords, beat, sample_rate, loop_n + tail, seed)
    loop = raw[:loop_n].copy()
    loop[:tail] += raw[loop_n:]  # what rings past the loop's end sounds at the next start
    n = max(1, round(seconds * sample_rate))
    out = np.tile(loop, n // loop_n + 1)[:n]
    fade = min(n // 2, int(1.5 * sample_rate))
    if fade:
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    peak = float(np.max(np.abs(out))) or 1.0
    return (out / peak).astype(np.float32)


def _loop(
    spec: MoodSpec, chords: list[list[int]], beat: float, rate: int, n: int, seed: int
) -> np.ndarray:
    t = np.arange(n, dtype=np.float32) / rate
    out = np.zeros(n, dtype=np.float32)
    bar = 4 * beat
    # Pad: each chord held a bar, raised-cosine cross-faded into the next.
    for k, chord in enumerate(chords):
        start = k * bar
        a, b = max(0, int((start - 0.3 * bar) * rate)), min(n, int((start + 1.3 * bar) * rate))
        seg_t = t[a:b] - start
        env = np.clip(np.sin(np.pi * (seg_t + 0.3 * bar) / (1.6 * bar)), 0, 1) ** 2
        tone = np.zeros(b - a, dtype=np.float32)
        for semi in chord:
            f = spec.root_hz * 2 ** (semi / 12) / 2
            tone += np.sin(2 * np.pi * f * t[a:b])
            tone += spec.brightness * 0.5 * np.sin(2 * np.pi * 2 * f * t[a:b] + 0.3)
        out[a:b] += 0.5 * env * tone
    # Arpeggio: one plucked note per beat (per half beat when tense), decaying.
    step = beat / (2 if spec.pulse else 1)
    rng = np.random.default_rng(seed + 1)
    loop_s = len(chords) * bar
    note_n = int(1.2 * rate)
    local = np.arange(note_n, dtype=np.float32) / rate
    pluck_env = np.exp(-local * 4.0) * np.clip(local / 0.01, 0, 1)
    for k in range(int(loop_s / step)):
        start = k * step
        chord = chords[int(start // bar) % len(chords)]
        f = spec.root_hz * 2 ** ((chord[int(rng.integers(0, len(chord)))] + 12) / 12)
        a = int(start * rate)
        b = min(n, a + note_n)
        note = np.sin(2 * np.pi * f * local) + spec.brightness * np.sin(2 * np.pi * 3 * f * local)
        out[a:b] += (0.35 * pluck_env * note)[: b - a]
    if spec.pulse:  # a low heartbeat on every beat
        pulse_n = int(0.25 * rate)
        lp = local[:pulse_n]
        thump = 0.6 * np.exp(-lp * 18) * np.sin(2 * np.pi * 55 * lp)
        for k in range(int(loop_s / beat)):
            a = int(k * beat * rate)
            b = min(n, a + pulse_n)
            out[a:b] += thump[: b - a]
    return out


def duck_envelope(
    n: int, sample_rate: int, segments: list[tuple[float, float]], *, duck: float = DUCK_GAIN
) -> np.ndarray:
    """Gain per sample: 1.0 in pauses, `duck` under speech, with attack/release ramps (the bed
    starts ducking ATTACK_S before the speech so the first syllable is clear).

    Built at a ~1 kHz control rate (a whole number of samples per point) and held per point: a
    gain curve smoothed over 20 ms has nothing a 1 ms step could add, and this is ~20x cheaper
    than working per sample."""
    if not n:
        return np.ones(0, dtype=np.float32)
    hold = max(1, sample_rate // CONTROL_RATE)
    ctl = sample_rate / hold
    m = -(-n // hold)
    target = np.ones(m, dtype=np.float32)
    for start, end in segments:
        target[max(0, int((start - ATTACK_S) * ctl)) : max(0, int(end * ctl))] = duck
    # release: a causal moving average rises over RELEASE_S after the speech; taking the minimum
    # with the target keeps the drop immediate (it happens ATTACK_S before the speech)
    env = np.minimum(target, _moving_average(target, max(1, int(RELEASE_S * ctl)), centred=False))
    # a 20 ms centred average takes the click out of the drop
    env = _moving_average(env, max(1, int(0.02 * ctl)), centred=True)
    return np.repeat(env, hold)[:n].astype(np.float32)


def _moving_average(x: np.ndarray, k: int, *, centred: bool) -> np.ndarray:
    """Box average over k samples by cumulative sums (O(n)); edges repeat the end values."""
    before = k // 2 if centred else k - 1
    padded = np.concatenate([np.full(before, x[0]), x, np.full(k - 1 - before, x[-1])])
    cs = np.concatenate([[0.0], np.cumsum(padded, dtype=np.float64)])
    return ((cs[k:] - cs[:-k]) / k).astype(np.float32)


@dataclass(frozen=True)
class MixResult:
    path: Path
    mood: str
    bed_level: float
    seconds: float


def mix_bed(
    narration: Path,
    segments: list[tuple[float, float]],
    out: Path,
    *,
    mood: str,
    seed: int,
    level: float = BED_LEVEL,
    bed_only: bool = False,
) -> MixResult:
    """narration + a ducked bed (or the ducked bed alone, for an editor's separate track),
    written as 16-bit PCM mono at the narration's rate."""
    try:
        info, data = read_wav(narration)
    except (OSError, ValueError) as exc:
        raise NFError("NF-MEDIA-002", f"cannot read narration {narration}: {exc}") from exc
    speech = data.mean(axis=1) if data.ndim == 2 else data
    rate = info.sample_rate
    bed = synthesize_bed(len(speech) / rate, rate, mood, seed)[: len(speech)]
    ducked = level * duck_envelope(len(speech), rate, segments) * bed
    mixed = np.clip(ducked if bed_only else speech + ducked, -1.0, 1.0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((mixed * 32767).astype(np.int16).tobytes())
    os.replace(tmp, out)
    return MixResult(out, mood, level, len(speech) / rate)
