"""Offline speech provider: real synthesized narration from espeak-ng (no network, cost 0).

espeak-ng is a system package (`apt-get install espeak-ng`, done by the project's setup). It
reads UTF-8 text on stdin and writes a PCM WAV; voices are espeak ids such as "cmn" (Mandarin),
"en", "en-us" or variants like "en+m3". It is robotic but fast (hundreds of times real time),
which is what a laptop-scale offline line needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from nf_services.providers.base import SpeechResult, Usage
from shared.errors import NFError
from shared.media_probe import wav_duration

# Language codes callers commonly pass, mapped to espeak voice ids.
VOICE_ALIASES = {"zh": "cmn", "zh-cn": "cmn", "zh-hans": "cmn", "cmn-cn": "cmn", "en-gb": "en"}
MIN_RATE, MAX_RATE = 80, 450  # espeak-ng words per minute it handles sensibly


def find_espeak() -> str | None:
    """Path of espeak-ng (or the older espeak, which takes the same flags), if installed."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


class EspeakSpeechProvider:
    """SpeechProvider backed by the espeak-ng command line."""

    name = "offline-espeak"
    accepts_pitch = True  # the executor passes SKILL_11's pitch

    def __init__(self, executable: str | None = None, *, timeout_s: float = 120.0) -> None:
        self.executable = executable
        self.timeout_s = timeout_s
        self.model = "espeak-ng"

    def _exe(self) -> str:
        exe = self.executable or find_espeak()
        if exe is None:
            raise NFError(
                "NF-MEDIA-002",
                "espeak-ng is not installed; run the project setup "
                "(apt-get install espeak-ng) to enable offline narration",
            )
        return exe

    def speak(
        self,
        text: str,
        voice: str,
        out_path: Path,
        *,
        rate: int = 170,
        pitch: int | None = None,
    ) -> SpeechResult:
        text = " ".join(text.split())
        if not text:
            raise NFError("NF-SKILL-001", "speech text is empty")
        voice = VOICE_ALIASES.get(voice.strip().lower(), voice.strip()) or "en"
        rate = max(MIN_RATE, min(MAX_RATE, int(rate)))
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
        cmd = [self._exe(), "-v", voice, "-s", str(rate), "-w", str(tmp)]
        if pitch is not None:
            cmd += ["-p", str(max(0, min(99, int(pitch))))]
        # Text goes on stdin: no argv length limit and no option parsing of a leading "-".
        timeout = self.timeout_s + len(text) / 100
        try:
            proc = subprocess.run(
                cmd, input=text.encode("utf-8"), capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            tmp.unlink(missing_ok=True)
            raise NFError("NF-MEDIA-002", f"espeak-ng timed out after {timeout:.0f} s") from exc
        except OSError as exc:
            raise NFError("NF-MEDIA-002", f"espeak-ng could not start: {exc}") from exc
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            raise NFError(
                "NF-MEDIA-002",
                f"espeak-ng failed (exit {proc.returncode}, voice {voice!r}): {stderr[:300]}",
            )
        try:
            seconds = wav_duration(tmp)
        except (OSError, EOFError, ValueError) as exc:
            tmp.unlink(missing_ok=True)
            raise NFError("NF-MEDIA-002", f"espeak-ng wrote an unreadable WAV: {exc}") from exc
        if seconds <= 0:
            tmp.unlink(missing_ok=True)
            raise NFError("NF-MEDIA-002", f"espeak-ng produced no audio for voice {voice!r}")
        os.replace(tmp, out_path)
        usage = Usage(
            provider=self.name,
            model=f"{self.model}:{voice}",
            units=round(seconds, 3),
            unit="audio_seconds",
        )
        return SpeechResult(path=out_path, seconds=seconds, usage=usage)
