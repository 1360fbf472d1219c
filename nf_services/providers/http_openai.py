"""Providers for OpenAI-compatible HTTP APIs (OpenAI, vLLM, Ollama, most vendors).

One `OpenAIHTTPClient` owns transport and error mapping; four thin providers (chat, image,
speech, embedding) build request bodies and validate responses. Each call makes exactly one
attempt per HTTP request: retries belong to the shared retry policy, which reads
`NFError.retryable` and `NFError.context["retry_after"]`.

Error mapping (shared/errors.py):
    429                         -> NF-PROVIDER-001 (retryable, retry_after from Retry-After)
    5xx, connection failure     -> NF-PROVIDER-002 (retryable)
    timeout, 408                -> NF-PROVIDER-003 (retryable)
    bad JSON/keys/media         -> NF-PROVIDER-004
    other non-2xx               -> NF-PROVIDER-005
    bad/missing base_url, model -> NF-PROVIDER-006
    circuit breaker open        -> NF-PROVIDER-007 (no request sent; see health.py)
    run's provider deadline     -> NF-PROVIDER-008 (no request sent)
The api key never appears in an error detail or context, even when a server echoes it.

Every request passes the current `health.Guard` (the client's circuit breaker, when the registry
gave it one, and the run's deadline, which also caps the request's timeout).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
import struct
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
from PIL import Image, UnidentifiedImageError

from nf_services.providers import health
from nf_services.providers.base import (
    ChatResult,
    EmbeddingResult,
    ImageResult,
    SpeechResult,
    Usage,
)
from nf_services.providers.offline_text import approx_tokens
from shared.errors import NFError

PROVIDER_NAME = "openai-http"
DEFAULT_IMAGE_SIZE = "1280x720"
DEFAULT_SPEECH_RATE = 170  # words per minute that maps to speed 1.0
_ERROR_SNIPPET = 200


@dataclass(frozen=True)
class Price:
    """USD prices for one model; unknown models cost 0.

    input_per_1m: per million input tokens (per million input characters for speech).
    output_per_1m: per million completion tokens (chat only).
    per_unit: per image, per audio second or per embedded text.
    """

    input_per_1m: float = 0.0
    output_per_1m: float = 0.0
    per_unit: float = 0.0

    @classmethod
    def from_value(cls, value: Price | Mapping[str, float]) -> Price:
        return value if isinstance(value, Price) else cls(**dict(value))


def parse_prices(table: Mapping[str, Price | Mapping[str, float]] | None) -> dict[str, Price]:
    return {model: Price.from_value(p) for model, p in (table or {}).items()}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _public_url(url: str) -> str:
    """The URL without user:password, for error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass
class OpenAIHTTPClient:
    """Transport for one OpenAI-compatible server: one POST, mapped errors."""

    base_url: str
    api_key: str | None = None
    timeout: float = 60.0
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    # Set by the registry (capability|server|model): the process's circuit breaker of that key
    # guards every request. None: no breaker.
    breaker_key: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.timeout or self.timeout <= 0:
            raise NFError("NF-PROVIDER-006", f"provider timeout must be > 0, not {self.timeout}")
        if not self.base_url or not self.base_url.strip():
            raise NFError("NF-PROVIDER-006", "OpenAI-compatible provider has no base_url")
        root = self.base_url.strip().rstrip("/")
        # Accept both "http://host" and the SDK convention "http://host/v1".
        if root.endswith("/v1"):
            root = root[: -len("/v1")]
        self._root = root

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"OpenAIHTTPClient(base_url={_public_url(self._root)!r}, timeout={self.timeout})"

    @property
    def breaker(self) -> health.CircuitBreaker | None:
        return health.breaker(self.breaker_key) if self.breaker_key else None

    @property
    def public_root(self) -> str:
        """The server's root URL without credentials (breaker keys, messages)."""
        return _public_url(self._root)

    def endpoint(self, path: str) -> str:
        return f"{self._root}/v1/{path.lstrip('/')}"

    def _redact(self, text: str) -> str:
        if self.api_key:
            text = text.replace(self.api_key, "***")
        return text

    def _fail(
        self,
        code: str,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> NFError:
        where = f"POST {_public_url(url)}"
        status_text = f"HTTP {status}" if status is not None else "no HTTP status"
        detail = self._redact(f"{where} -> {status_text}: {reason}")
        return NFError(
            code,
            detail,
            endpoint=_public_url(url),
            status=status,
            retry_after=retry_after,
        )

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST JSON once; return the 2xx response or raise a mapped NFError. Refused at once
        (NF-PROVIDER-007/008) while the breaker is open or the run's deadline is spent."""
        guard, breaker = health.active(), self.breaker
        guard.admit(breaker)
        started = time.monotonic()
        try:
            response = self._send(path, body, guard.timeout(self.timeout))
        except BaseException as exc:
            guard.record(breaker, exc, time.monotonic() - started)
            raise
        guard.record(breaker, None, time.monotonic() - started)
        return response

    def _send(self, path: str, body: dict[str, Any], timeout: float) -> httpx.Response:
        url = self.endpoint(path)
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            with httpx.Client(timeout=httpx.Timeout(timeout), transport=self.transport) as client:
                response = client.post(url, json=body, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self._fail("NF-PROVIDER-006", url, f"base_url is not usable ({exc})") from None
        except httpx.TimeoutException as exc:
            raise self._fail(
                "NF-PROVIDER-003", url, f"timed out after {timeout:g}s ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            # Connection refused/reset: the server is unavailable, which a retry may fix.
            raise self._fail(
                "NF-PROVIDER-002", url, f"transport error ({type(exc).__name__}: {exc})"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        reason = _error_reason(response)
        if status == 429:
            code = "NF-PROVIDER-001"
        elif status >= 500:
            code = "NF-PROVIDER-002"
        elif status == 408:
            code = "NF-PROVIDER-003"
        else:
            code = "NF-PROVIDER-005"
        raise self._fail(code, url, reason, status=status, retry_after=retry_after)

    def post_json(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """POST and decode a JSON object; returns (payload, url)."""
        response = self.post(path, body)
        url = self.endpoint(path)
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._fail(
                "NF-PROVIDER-004", url, f"invalid JSON ({exc})", status=response.status_code
            ) from None
        if not isinstance(payload, dict):
            raise self._fail(
                "NF-PROVIDER-004",
                url,
                f"expected a JSON object, got {type(payload).__name__}",
                status=response.status_code,
            )
        return payload, url

    def malformed(self, url: str, reason: str, status: int = 200) -> NFError:
        return self._fail("NF-PROVIDER-004", url, reason, status=status)


def _error_reason(response: httpx.Response) -> str:
    """A short reason from an error body (OpenAI's {"error": {"message"}} or raw text)."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = None
    message = None
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            message = err.get("message")
        elif isinstance(err, str):
            message = err
        message = message or payload.get("message") or payload.get("detail")
    if not isinstance(message, str) or not message:
        message = response.text
    message = " ".join(message.split())
    return message[:_ERROR_SNIPPET] or response.reason_phrase or "error"


def _require(cond: bool, client: OpenAIHTTPClient, url: str, reason: str) -> None:
    if not cond:
        raise client.malformed(url, reason)


def _cost(
    price: Price | None,
    *,
    input_units: float = 0.0,
    output_units: float = 0.0,
    units: float = 0.0,
) -> float:
    if price is None:
        return 0.0
    return (
        input_units * price.input_per_1m / 1e6
        + output_units * price.output_per_1m / 1e6
        + units * price.per_unit
    )


def _count_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _atomic_write(out_path: Path, data: bytes) -> None:
    """Write to a temp file beside out_path then rename, so failures leave no partial file."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _need_model(model: str | None, capability: str) -> str:
    if not model:
        raise NFError("NF-PROVIDER-006", f"OpenAI-compatible {capability} provider has no model")
    return model


class OpenAIChatProvider:
    """ChatProvider over POST /v1/chat/completions."""

    name = PROVIDER_NAME

    def __init__(
        self,
        client: OpenAIHTTPClient,
        model: str,
        *,
        prices: Mapping[str, Price | Mapping[str, float]] | None = None,
        temperature: float | None = None,
    ) -> None:
        self.client = client
        self.model = _need_model(model, "chat")
        self.prices = parse_prices(prices)
        self.temperature = temperature

    def chat(self, system: str, user: str, *, max_tokens: int = 512) -> ChatResult:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": user})
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        payload, url = self.client.post_json("chat/completions", body)

        choices = payload.get("choices")
        _require(isinstance(choices, list) and bool(choices), self.client, url, "no choices")
        first = choices[0]
        message = first.get("message") if isinstance(first, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        _require(isinstance(content, str), self.client, url, "choices[0].message.content missing")

        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        prompt = _count_int(usage.get("prompt_tokens"))
        completion = _count_int(usage.get("completion_tokens"))
        total = _count_int(usage.get("total_tokens"))
        if total is None:
            if prompt is None or completion is None:  # servers may omit usage: estimate it
                prompt = approx_tokens(system) + approx_tokens(user)
                completion = approx_tokens(content)
            total = prompt + completion
        price = self.prices.get(self.model)
        if prompt is not None and completion is not None:
            cost = _cost(price, input_units=prompt, output_units=completion)
        else:  # split unknown: charge everything at the input rate
            cost = _cost(price, input_units=total)
        return ChatResult(
            text=content,
            usage=Usage(self.name, self.model, float(total), "tokens", cost),
        )


def _parse_size(size: str) -> tuple[int, int]:
    w, _, h = size.lower().partition("x")
    return int(w), int(h)


class OpenAIImageProvider:
    """ImageProvider over POST /v1/images/generations (b64_json), always writing a PNG."""

    name = PROVIDER_NAME

    def __init__(
        self,
        client: OpenAIHTTPClient,
        model: str,
        *,
        prices: Mapping[str, Price | Mapping[str, float]] | None = None,
        default_size: str = DEFAULT_IMAGE_SIZE,
    ) -> None:
        self.client = client
        self.model = _need_model(model, "image")
        self.prices = parse_prices(prices)
        _parse_size(default_size)  # fail at construction on a bad size
        self.default_size = default_size

    def _size(self, params: Mapping[str, Any]) -> str:
        if params.get("size"):
            size = str(params["size"])
        elif params.get("width") and params.get("height"):
            size = f"{int(params['width'])}x{int(params['height'])}"
        else:
            size = self.default_size
        try:
            _parse_size(size)
        except ValueError:
            raise NFError("NF-SKILL-001", f"image size {size!r} is not WIDTHxHEIGHT") from None
        return size

    def render(self, prompt: str, params: dict, out_path: Path) -> ImageResult:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "n": 1,
            "size": self._size(params),
            "response_format": "b64_json",
        }
        # Vendor-specific knobs pass through only when asked for: strict servers reject extras.
        body.update(params.get("extra_body") or {})
        payload, url = self.client.post_json("images/generations", body)

        data = payload.get("data")
        _require(isinstance(data, list) and bool(data), self.client, url, "no data")
        item = data[0]
        b64 = item.get("b64_json") if isinstance(item, dict) else None
        _require(isinstance(b64, str) and bool(b64), self.client, url, "data[0].b64_json missing")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise self.client.malformed(url, "data[0].b64_json is not base64") from None
        png, width, height = self._to_png(raw, url)
        out_path = Path(out_path)
        _atomic_write(out_path, png)
        cost = _cost(self.prices.get(self.model), units=1)
        return ImageResult(
            path=out_path,
            width=width,
            height=height,
            usage=Usage(self.name, self.model, 1.0, "images", cost),
        )

    def _to_png(self, raw: bytes, url: str) -> tuple[bytes, int, int]:
        try:
            with Image.open(io.BytesIO(raw)) as img:
                img.load()  # decode fully: truncated data fails here, not downstream
                width, height = img.size
                if img.format == "PNG":
                    return raw, width, height
                # Some servers answer JPEG/WebP; the interface promises PNG.
                buf = io.BytesIO()
                converted = (
                    img if img.mode in ("RGB", "RGBA", "L", "LA", "P") else img.convert("RGB")
                )
                converted.save(buf, format="PNG")
                return buf.getvalue(), width, height
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise self.client.malformed(url, f"image does not decode ({exc})") from None


@dataclass(frozen=True)
class WavInfo:
    channels: int
    sample_rate: int
    sample_width: int  # bytes per sample
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE


def normalize_wav(data: bytes) -> tuple[bytes, WavInfo]:
    """Validate a WAV answer and return a PCM WAV with a correct header plus its info.

    Streaming TTS servers often send a data-chunk size of 0 or 0xFFFFFFFF; the real size is
    what arrived. 32-bit float samples are converted to 16-bit PCM (the interface promises PCM).
    Raises ValueError with a reason when the bytes are not a usable WAV.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int, int] | None = None
    pcm: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        start = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or start + 16 > len(data):
                raise ValueError("fmt chunk too short")
            tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", data[start : start + 16])
            if tag == _EXTENSIBLE and size >= 26 and start + 26 <= len(data):
                (tag,) = struct.unpack("<H", data[start + 24 : start + 26])  # sub-format GUID
            fmt = (tag, channels, rate, align, bits)
        elif chunk_id == b"data":
            end = len(data) if size in (0, 0xFFFFFFFF) else min(start + size, len(data))
            pcm = data[start:end]
            break
        pos = start + size + (size & 1)  # chunks are word-aligned
    if fmt is None:
        raise ValueError("no fmt chunk")
    if pcm is None:
        raise ValueError("no data chunk")
    tag, channels, rate, align, bits = fmt
    if channels < 1 or rate < 1 or bits < 8 or bits % 8:
        raise ValueError(f"bad format (channels={channels}, rate={rate}, bits={bits})")
    width = bits // 8
    if align != channels * width:
        raise ValueError(f"block align {align} does not match {channels}x{bits} bits")
    if tag == _FLOAT and bits == 32:
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 4], dtype="<f4")
        pcm = (np.clip(np.nan_to_num(samples), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        width = 2
    elif tag != _PCM:
        raise ValueError(f"unsupported WAV encoding tag {tag:#x}")
    frame = channels * width
    frames = len(pcm) // frame
    if frames == 0:
        raise ValueError("no audio frames")
    pcm = pcm[: frames * frame]
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        channels,
        rate,
        rate * frame,
        frame,
        width * 8,
        b"data",
        len(pcm),
    )
    return header + pcm, WavInfo(channels, rate, width, frames)


class OpenAISpeechProvider:
    """SpeechProvider over POST /v1/audio/speech with response_format "wav"."""

    name = PROVIDER_NAME

    def __init__(
        self,
        client: OpenAIHTTPClient,
        model: str,
        *,
        prices: Mapping[str, Price | Mapping[str, float]] | None = None,
        default_voice: str = "alloy",
    ) -> None:
        self.client = client
        self.model = _need_model(model, "speech")
        self.prices = parse_prices(prices)
        self.default_voice = default_voice

    def speak(
        self, text: str, voice: str, out_path: Path, *, rate: int = DEFAULT_SPEECH_RATE
    ) -> SpeechResult:
        body: dict[str, Any] = {
            "model": self.model,
            "voice": voice or self.default_voice,
            "input": text,
            "response_format": "wav",
        }
        if rate != DEFAULT_SPEECH_RATE:  # many servers lack "speed"; send it only when needed
            body["speed"] = round(min(4.0, max(0.25, rate / DEFAULT_SPEECH_RATE)), 3)
        response = self.client.post("audio/speech", body)
        url = self.client.endpoint("audio/speech")
        try:
            wav, info = normalize_wav(response.content)
        except ValueError as exc:
            raise self.client.malformed(url, f"audio is not a usable WAV ({exc})") from None
        out_path = Path(out_path)
        _atomic_write(out_path, wav)
        cost = _cost(self.prices.get(self.model), input_units=len(text), units=info.seconds)
        return SpeechResult(
            path=out_path,
            seconds=info.seconds,
            usage=Usage(self.name, self.model, info.seconds, "audio_seconds", cost),
        )


class OpenAIEmbeddingProvider:
    """EmbeddingProvider over POST /v1/embeddings.

    `dimensions` is the configured width, or 0 until the first answer fixes it; every later
    answer must match, so one provider never mixes vector widths.
    """

    name = PROVIDER_NAME

    def __init__(
        self,
        client: OpenAIHTTPClient,
        model: str,
        *,
        prices: Mapping[str, Price | Mapping[str, float]] | None = None,
        dimensions: int | None = None,
        max_batch: int = 256,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.client = client
        self.model = _need_model(model, "embedding")
        self.prices = parse_prices(prices)
        self.dimensions = int(dimensions or 0)
        self.max_batch = max_batch

    def embed(self, texts: list[str]) -> EmbeddingResult:
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), self.max_batch):
            batch_vectors, batch_tokens = self._embed_batch(texts[start : start + self.max_batch])
            vectors.extend(batch_vectors)
            tokens += batch_tokens
        cost = _cost(self.prices.get(self.model), input_units=tokens, units=len(texts))
        return EmbeddingResult(
            vectors=vectors,
            dimensions=self.dimensions,
            usage=Usage(self.name, self.model, float(len(texts)), "texts", cost),
        )

    def _embed_batch(self, texts: list[str]) -> tuple[list[list[float]], int]:
        payload, url = self.client.post_json("embeddings", {"model": self.model, "input": texts})
        data = payload.get("data")
        _require(isinstance(data, list), self.client, url, "no data")
        _require(
            len(data) == len(texts),
            self.client,
            url,
            f"{len(data)} embeddings for {len(texts)} inputs",
        )
        by_index: dict[int, list[float]] = {}
        for pos, item in enumerate(data):
            _require(isinstance(item, dict), self.client, url, f"data[{pos}] is not an object")
            index = item.get("index", pos)
            vec = item.get("embedding")
            _require(
                _count_int(index) is not None and index < len(texts) and index not in by_index,
                self.client,
                url,
                f"data[{pos}].index {index!r} is invalid",
            )
            _require(
                isinstance(vec, list)
                and bool(vec)
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in vec),
                self.client,
                url,
                f"data[{pos}].embedding is not a list of numbers",
            )
            by_index[index] = [float(x) for x in vec]
        vectors = [by_index[i] for i in range(len(texts))]
        widths = {len(v) for v in vectors}
        _require(len(widths) == 1, self.client, url, f"inconsistent dimensions {sorted(widths)}")
        width = widths.pop()
        _require(
            not any(not math.isfinite(x) for v in vectors for x in v),
            self.client,
            url,
            "embedding contains NaN or infinity",
        )
        if self.dimensions and width != self.dimensions:
            raise self.client.malformed(
                url, f"embedding width {width} != expected {self.dimensions}"
            )
        self.dimensions = width
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        tokens = _count_int(usage.get("prompt_tokens")) or _count_int(usage.get("total_tokens"))
        if tokens is None:
            tokens = sum(approx_tokens(t) for t in texts)
        return vectors, tokens


@dataclass
class OpenAIHTTPProvider:
    """All four capabilities on one server; each attribute satisfies one interface.

    Build the ones you need; a capability without a model raises NF-PROVIDER-006 when asked for.
    """

    base_url: str
    api_key: str | None = None
    chat_model: str | None = None
    image_model: str | None = None
    speech_model: str | None = None
    embedding_model: str | None = None
    timeout: float = 60.0
    prices: Mapping[str, Price | Mapping[str, float]] = field(default_factory=dict)
    embedding_dimensions: int | None = None
    transport: httpx.BaseTransport | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.client = OpenAIHTTPClient(self.base_url, self.api_key, self.timeout, self.transport)

    def __repr__(self) -> str:
        return f"OpenAIHTTPProvider({self.client!r})"

    def chat_provider(self) -> OpenAIChatProvider:
        return OpenAIChatProvider(self.client, self.chat_model or "", prices=self.prices)

    def image_provider(self) -> OpenAIImageProvider:
        return OpenAIImageProvider(self.client, self.image_model or "", prices=self.prices)

    def speech_provider(self) -> OpenAISpeechProvider:
        return OpenAISpeechProvider(self.client, self.speech_model or "", prices=self.prices)

    def embedding_provider(self) -> OpenAIEmbeddingProvider:
        return OpenAIEmbeddingProvider(
            self.client,
            self.embedding_model or "",
            prices=self.prices,
            dimensions=self.embedding_dimensions,
        )
