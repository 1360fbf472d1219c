"""A fake OpenAI-compatible server on 127.0.0.1 for tests, including its failure modes.

Use it as a context manager or through the `fake_openai` pytest fixture (import it into a
conftest: `from tests.providers.fake_openai import fake_openai  # noqa: F401`)::

    with FakeOpenAIServer() as server:   # FakeOpenAIServer(port=p): a fixed port (down/up tests)
        provider = OpenAIChatProvider(OpenAIHTTPClient(server.base_url), "fake-chat")
        server.push("429")            # the next request gets a 429, later ones succeed
        ...
        server.requests[-1].json      # what the client sent

Modes are chosen, first match wins, by: a scripted queue (`push`, FIFO, any endpoint), a path
prefix (`server.url_for("500")` -> base URL whose requests all fail with 500), else "ok".

Modes: ok, 429 (Retry-After: server.retry_after), 500, 503, 400, 401 (echoes the Authorization
header in the body, to test redaction), 408, slow (answers after server.delay seconds or at
shutdown), bad_json, missing_keys, not_image, bad_wav, wrong_dims (embeddings of two widths),
not_object (a JSON list). A `FakeResponse` can also be pushed for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

MODES = (
    "ok",
    "429",
    "500",
    "503",
    "400",
    "401",
    "408",
    "slow",
    "bad_json",
    "missing_keys",
    "not_image",
    "bad_wav",
    "wrong_dims",
    "not_object",
)
ENDPOINTS = ("chat/completions", "images/generations", "audio/speech", "embeddings")
SPEECH_SECONDS_PER_CHAR = 0.05
SPEECH_SAMPLE_RATE = 16000


@dataclass
class FakeResponse:
    status: int = 200
    body: bytes | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # the path after any mode prefix, e.g. "/v1/chat/completions"
    mode: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def speech_seconds(text: str) -> float:
    """Duration of the WAV the fake answers for `text` (tests compare against it)."""
    frames = round(max(0.2, len(text) * SPEECH_SECONDS_PER_CHAR) * SPEECH_SAMPLE_RATE)
    return frames / SPEECH_SAMPLE_RATE


def make_wav(seconds: float, rate: int = SPEECH_SAMPLE_RATE, *, data_size: int | None = None):
    """A mono 16-bit PCM WAV holding a 440 Hz tone; data_size overrides the header field."""
    frames = round(seconds * rate)
    pcm = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(frames)
    )
    size = len(pcm) if data_size is None else data_size
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        size,
    )
    return header + pcm


def make_png(width: int, height: int, seed: str) -> bytes:
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    img = Image.new("RGB", (width, height), (r, g, b))
    img.paste((255 - r, 255 - g, 255 - b), (0, 0, width // 2, height // 2))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def fake_embedding(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 128) / 128 for i in range(dims)]


def chat_reply(messages: list[dict]) -> str:
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    return f"fake reply to: {user[:40]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        mode = "ok"
        if path.startswith("/_mode/"):
            _, _, rest = path.partition("/_mode/")
            mode, _, tail = rest.partition("/")
            path = "/" + tail
        queued = fake.pop_scripted()
        if queued is not None:
            mode = queued
        fake.record(RecordedRequest("POST", path, str(mode), dict(self.headers.items()), body))
        try:
            response = fake.respond(mode, path, body, dict(self.headers.items()))
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def _send(self, response: FakeResponse) -> None:
        payload = response.body
        headers = dict(response.headers)
        if isinstance(payload, dict | list):
            payload = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(response.status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeOpenAIServer


class FakeOpenAIServer:
    """Threaded fake server; start/stop or use as a context manager."""

    def __init__(
        self,
        *,
        embedding_dims: int = 8,
        retry_after: str = "7",
        delay: float = 10.0,
        port: int = 0,
    ) -> None:
        self.embedding_dims = embedding_dims
        self.requested_port = port  # 0: any free port; a fixed one lets a test stop and restart
        self.retry_after = retry_after
        self.delay = delay
        self.requests: list[RecordedRequest] = []
        self._queue: deque[str | FakeResponse] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> FakeOpenAIServer:
        self._httpd = _Server(("127.0.0.1", self.requested_port), _Handler)
        self._httpd.fake = self
        # A short poll interval keeps shutdown (one per test) from costing half a second.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases "slow" handlers at once
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addressing
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, mode: str) -> str:
        """A base URL whose every request is answered in `mode`."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        return f"{self.base_url}/_mode/{mode}"

    # scripting
    def push(self, *items: str | FakeResponse) -> None:
        """Queue modes or raw responses for the next requests (any endpoint)."""
        for item in items:
            if isinstance(item, str) and item not in MODES:
                raise ValueError(f"unknown mode {item!r}")
        with self._lock:
            self._queue.extend(items)

    def pop_scripted(self) -> str | FakeResponse | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # answers
    def respond(
        self, mode: str | FakeResponse, path: str, body: bytes, headers: dict
    ) -> FakeResponse:
        if isinstance(mode, FakeResponse):
            return mode
        endpoint = path.removeprefix("/v1/")
        if endpoint not in ENDPOINTS:
            return FakeResponse(404, {"error": {"message": f"no route {path}"}})
        if mode == "429":
            return FakeResponse(
                429,
                {"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                {"Retry-After": self.retry_after},
            )
        if mode in ("500", "503"):
            return FakeResponse(int(mode), {"error": {"message": "upstream exploded"}})
        if mode == "400":
            return FakeResponse(400, {"error": {"message": "bad request: unknown parameter"}})
        if mode == "401":
            auth = headers.get("Authorization", "")
            return FakeResponse(401, {"error": {"message": f"Incorrect API key provided: {auth}"}})
        if mode == "408":
            return FakeResponse(408, b"request timeout", {"Content-Type": "text/plain"})
        if mode == "slow":
            self._stopping.wait(self.delay)
            mode = "ok"
        if mode == "bad_json":
            return FakeResponse(200, b'{"choices": [', {"Content-Type": "application/json"})
        if mode == "not_object":
            return FakeResponse(200, [1, 2, 3])
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return FakeResponse(400, {"error": {"message": "body is not JSON"}})
        return getattr(self, "_" + endpoint.replace("/", "_"))(mode, request)

    def _chat_completions(self, mode: str, req: dict) -> FakeResponse:
        if mode == "missing_keys":
            return FakeResponse(200, {"id": "x", "object": "chat.completion"})
        text = chat_reply(req.get("messages", []))
        prompt = sum(len(m.get("content", "")) for m in req.get("messages", [])) // 4 + 1
        completion = len(text) // 4 + 1
        return FakeResponse(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": req.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )

    def _images_generations(self, mode: str, req: dict) -> FakeResponse:
        if mode == "missing_keys":
            return FakeResponse(200, {"created": 0, "data": [{"revised_prompt": "x"}]})
        if mode == "not_image":
            b64 = base64.b64encode(b"this is plainly not an image").decode()
            return FakeResponse(200, {"created": 0, "data": [{"b64_json": b64}]})
        width, _, height = str(req.get("size", "256x256")).partition("x")
        png = make_png(int(width), int(height), req.get("prompt", ""))
        return FakeResponse(
            200, {"created": 0, "data": [{"b64_json": base64.b64encode(png).decode()}]}
        )

    def _audio_speech(self, mode: str, req: dict) -> FakeResponse:
        if mode in ("bad_wav", "missing_keys", "not_image"):
            return FakeResponse(200, b"RIFF\x00\x00\x00\x00WAVEjunk", {"Content-Type": "audio/wav"})
        wav = make_wav(speech_seconds(req.get("input", "")))
        return FakeResponse(200, wav, {"Content-Type": "audio/wav"})

    def _embeddings(self, mode: str, req: dict) -> FakeResponse:
        texts = req.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        if mode == "missing_keys":
            return FakeResponse(
                200, {"object": "list", "data": [{"index": i} for i in range(len(texts))]}
            )
        data = []
        for i, text in enumerate(texts):
            dims = self.embedding_dims + (1 if mode == "wrong_dims" and i % 2 else 0)
            data.append(
                {"object": "embedding", "index": i, "embedding": fake_embedding(text, dims)}
            )
        tokens = sum(len(t) for t in texts) // 4 + 1
        return FakeResponse(
            200,
            {
                "object": "list",
                "model": req.get("model"),
                "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started fake OpenAI-compatible server, stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server
