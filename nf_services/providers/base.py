"""Provider interfaces. Skills and executors depend on these, never on a concrete provider.

Every call returns a `Usage` so the usage ledger can record units and estimated cost (offline
providers cost 0 but still report units); callers record failed calls as `Usage` rows too
(`health.failed_usage`). Failures raise `shared.errors.NFError` with a
NF-PROVIDER-* code (or NF-MEDIA-* for local tools) so retries and degradation can decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Usage:
    provider: str  # e.g. "offline-pillow", "openai-http"
    model: str
    units: float  # tokens, images, seconds of audio, texts embedded
    unit: str  # "tokens" | "images" | "audio_seconds" | "texts"
    cost_usd: float = 0.0
    # "succeeded"; "failed" (the provider was called and failed: units 0); "skipped" (the call
    # was not made: circuit breaker open or the run's provider deadline spent).
    status: str = "succeeded"
    error_code: str | None = None


@dataclass(frozen=True)
class ChatResult:
    text: str
    usage: Usage


@dataclass(frozen=True)
class ImageResult:
    path: Path  # PNG written by the provider
    width: int
    height: int
    usage: Usage


@dataclass(frozen=True)
class SpeechResult:
    path: Path  # WAV (PCM) written by the provider
    seconds: float
    usage: Usage


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    dimensions: int
    usage: Usage


@runtime_checkable
class ChatProvider(Protocol):
    name: str

    def chat(self, system: str, user: str, *, max_tokens: int = 512) -> ChatResult: ...


@runtime_checkable
class ImageProvider(Protocol):
    name: str

    def render(self, prompt: str, params: dict, out_path: Path) -> ImageResult: ...


@runtime_checkable
class SpeechProvider(Protocol):
    name: str

    def speak(self, text: str, voice: str, out_path: Path, *, rate: int = 170) -> SpeechResult: ...


@runtime_checkable
class EmbeddingProvider(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> EmbeddingResult: ...
