"""OpenAI-compatible HTTP providers against the fake server: success paths and error mapping."""

from __future__ import annotations

import base64
import io
import socket
import struct
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nf_services.providers.base import (
    ChatProvider,
    EmbeddingProvider,
    ImageProvider,
    SpeechProvider,
)
from nf_services.providers.http_openai import (
    OpenAIChatProvider,
    OpenAIEmbeddingProvider,
    OpenAIHTTPClient,
    OpenAIHTTPProvider,
    OpenAIImageProvider,
    OpenAISpeechProvider,
    normalize_wav,
    parse_retry_after,
)
from nf_services.providers.offline_text import approx_tokens
from shared.errors import NFError
from tests.providers.fake_openai import (
    FakeOpenAIServer,
    FakeResponse,
    chat_reply,
    fake_embedding,
    make_wav,
    speech_seconds,
)

API_KEY = "sk-test-SECRET-0123456789"


def _providers(base_url: str, *, timeout: float = 5.0, api_key: str | None = API_KEY):
    bundle = OpenAIHTTPProvider(
        base_url,
        api_key=api_key,
        chat_model="fake-chat",
        image_model="fake-image",
        speech_model="fake-tts",
        embedding_model="fake-embed",
        timeout=timeout,
    )
    return bundle


def _call(capability: str, base_url: str, tmp_path: Path, *, timeout: float = 5.0):
    """One call of one capability; returns the result or raises."""
    bundle = _providers(base_url, timeout=timeout)
    if capability == "chat":
        return bundle.chat_provider().chat("You are terse.", "Tell me about the river.")
    if capability == "image":
        return bundle.image_provider().render("a river at dawn", {}, tmp_path / "img.png")
    if capability == "speech":
        return bundle.speech_provider().speak("The river runs.", "alloy", tmp_path / "a.wav")
    return bundle.embedding_provider().embed(["river", "mountain"])


CAPABILITIES = ["chat", "image", "speech", "embedding"]
ENDPOINT = {
    "chat": "/v1/chat/completions",
    "image": "/v1/images/generations",
    "speech": "/v1/audio/speech",
    "embedding": "/v1/embeddings",
}


# --- success paths ----------------------------------------------------------------------------


def test_chat_success_sends_openai_body_and_reports_tokens(fake_openai: FakeOpenAIServer):
    provider = _providers(fake_openai.base_url).chat_provider()
    result = provider.chat("Be brief.", "Summarise chapter one.", max_tokens=64)

    req = fake_openai.requests[-1]
    assert req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == f"Bearer {API_KEY}"
    assert req.json["model"] == "fake-chat"
    assert req.json["max_tokens"] == 64
    assert req.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summarise chapter one."},
    ]
    assert result.text == chat_reply(req.json["messages"])
    assert result.usage.unit == "tokens"
    assert result.usage.provider == "openai-http" and result.usage.model == "fake-chat"
    assert result.usage.units > 0
    assert result.usage.cost_usd == 0.0  # no price configured


def test_chat_cost_from_price_table(fake_openai: FakeOpenAIServer):
    fake_openai.push(
        FakeResponse(
            200,
            {
                "choices": [{"message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
            },
        )
    )
    client = OpenAIHTTPClient(fake_openai.base_url)
    provider = OpenAIChatProvider(
        client, "priced", prices={"priced": {"input_per_1m": 2.0, "output_per_1m": 4.0}}
    )
    result = provider.chat("", "hi")
    assert result.usage.units == 1500
    assert result.usage.cost_usd == pytest.approx(1000 * 2e-6 + 500 * 4e-6)
    assert "Authorization" not in fake_openai.requests[-1].headers  # no key configured
    assert fake_openai.requests[-1].json["messages"] == [{"role": "user", "content": "hi"}]


def test_chat_without_usage_estimates_tokens(fake_openai: FakeOpenAIServer):
    fake_openai.push(FakeResponse(200, {"choices": [{"message": {"content": "短答。"}}]}))
    provider = _providers(fake_openai.base_url).chat_provider()
    result = provider.chat("system prompt", "用户的问题是什么？")
    expected = approx_tokens("system prompt") + approx_tokens("用户的问题是什么？") + 3
    assert result.usage.units == expected


def test_base_url_with_v1_suffix_is_not_doubled(fake_openai: FakeOpenAIServer):
    provider = _providers(fake_openai.base_url + "/v1/").chat_provider()
    provider.chat("", "hello")
    assert fake_openai.requests[-1].path == "/v1/chat/completions"


def test_image_success_writes_decodable_png(fake_openai: FakeOpenAIServer, tmp_path: Path):
    out = tmp_path / "panels" / "p1.png"
    provider = _providers(fake_openai.base_url).image_provider()
    result = provider.render("a lantern in the rain", {}, out)

    body = fake_openai.requests[-1].json
    assert body["size"] == "1280x720"
    assert body["response_format"] == "b64_json"
    assert body["prompt"] == "a lantern in the rain"
    assert result.path == out
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (1280, 720)
    assert (result.width, result.height) == (1280, 720)
    assert (result.usage.units, result.usage.unit) == (1.0, "images")


def test_image_size_from_params_and_jpeg_converted_to_png(
    fake_openai: FakeOpenAIServer, tmp_path: Path
):
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(buf, format="JPEG")
    fake_openai.push(
        FakeResponse(200, {"data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}]})
    )
    provider = _providers(fake_openai.base_url).image_provider()
    result = provider.render("x", {"width": 64, "height": 48}, tmp_path / "j.png")
    assert fake_openai.requests[-1].json["size"] == "64x48"
    with Image.open(result.path) as img:
        assert img.format == "PNG" and img.size == (64, 48)


def test_speech_success_writes_readable_wav(fake_openai: FakeOpenAIServer, tmp_path: Path):
    text = "It was the best of times, it was the worst of times."
    provider = _providers(fake_openai.base_url).speech_provider()
    result = provider.speak(text, "nova", tmp_path / "n.wav")

    body = fake_openai.requests[-1].json
    assert body == {"model": "fake-tts", "voice": "nova", "input": text, "response_format": "wav"}
    with wave.open(str(result.path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(speech_seconds(text))
    assert result.seconds == pytest.approx(speech_seconds(text))
    assert (result.usage.unit, result.usage.units) == ("audio_seconds", result.seconds)


def test_speech_rate_maps_to_speed(fake_openai: FakeOpenAIServer, tmp_path: Path):
    provider = _providers(fake_openai.base_url).speech_provider()
    provider.speak("fast", "alloy", tmp_path / "f.wav", rate=340)
    assert fake_openai.requests[-1].json["speed"] == 2.0


def test_speech_streaming_header_is_repaired(fake_openai: FakeOpenAIServer, tmp_path: Path):
    # Streaming TTS servers cannot know the length up front and send 0xFFFFFFFF.
    fake_openai.push(FakeResponse(200, make_wav(0.5, data_size=0xFFFFFFFF)))
    provider = _providers(fake_openai.base_url).speech_provider()
    result = provider.speak("streamed", "alloy", tmp_path / "s.wav")
    assert result.seconds == pytest.approx(0.5)
    with wave.open(str(result.path)) as wav:
        assert wav.getnframes() == 8000


def test_embeddings_success_and_dimension_learning(fake_openai: FakeOpenAIServer):
    provider = _providers(fake_openai.base_url).embedding_provider()
    assert provider.dimensions == 0  # unknown until the server answers
    result = provider.embed(["红楼梦", "river"])
    assert result.dimensions == provider.dimensions == fake_openai.embedding_dims
    assert result.vectors == [fake_embedding("红楼梦", 8), fake_embedding("river", 8)]
    assert (result.usage.units, result.usage.unit) == (2.0, "texts")
    assert fake_openai.requests[-1].json == {"model": "fake-embed", "input": ["红楼梦", "river"]}


def test_embeddings_follow_index_not_list_order(fake_openai: FakeOpenAIServer):
    fake_openai.push(
        FakeResponse(
            200,
            {
                "data": [
                    {"index": 1, "embedding": [0.0, 1.0]},
                    {"index": 0, "embedding": [1.0, 0.0]},
                ]
            },
        )
    )
    provider = _providers(fake_openai.base_url).embedding_provider()
    assert provider.embed(["a", "b"]).vectors == [[1.0, 0.0], [0.0, 1.0]]


def test_embeddings_are_batched_in_order(fake_openai: FakeOpenAIServer):
    client = OpenAIHTTPClient(fake_openai.base_url)
    provider = OpenAIEmbeddingProvider(client, "fake-embed", max_batch=2)
    texts = [f"text {i}" for i in range(5)]
    result = provider.embed(texts)
    assert [r.json["input"] for r in fake_openai.requests] == [texts[:2], texts[2:4], texts[4:]]
    assert result.vectors == [fake_embedding(t, 8) for t in texts]


def test_empty_embedding_call_makes_no_request(fake_openai: FakeOpenAIServer):
    provider = _providers(fake_openai.base_url).embedding_provider()
    assert provider.embed([]).vectors == []
    assert fake_openai.requests == []


def test_http_providers_satisfy_interfaces(fake_openai: FakeOpenAIServer):
    bundle = _providers(fake_openai.base_url)
    assert isinstance(bundle.chat_provider(), ChatProvider)
    assert isinstance(bundle.image_provider(), ImageProvider)
    assert isinstance(bundle.speech_provider(), SpeechProvider)
    assert isinstance(bundle.embedding_provider(), EmbeddingProvider)


# --- error mapping ----------------------------------------------------------------------------


ERROR_CASES = [
    ("429", "NF-PROVIDER-001", True, 429),
    ("500", "NF-PROVIDER-002", True, 500),
    ("503", "NF-PROVIDER-002", True, 503),
    ("408", "NF-PROVIDER-003", True, 408),
    ("400", "NF-PROVIDER-005", False, 400),
    ("bad_json", "NF-PROVIDER-004", False, 200),
    ("not_object", "NF-PROVIDER-004", False, 200),
    ("missing_keys", "NF-PROVIDER-004", False, 200),
]


@pytest.mark.parametrize("capability", CAPABILITIES)
@pytest.mark.parametrize(("mode", "code", "retryable", "status"), ERROR_CASES)
def test_failures_map_to_registry_codes(
    fake_openai: FakeOpenAIServer, tmp_path: Path, capability, mode, code, retryable, status
):
    fake_openai.push(mode)
    with pytest.raises(NFError) as info:
        _call(capability, fake_openai.base_url, tmp_path)
    err = info.value
    assert (err.code, err.retryable) == (code, retryable)
    assert err.context["status"] == status
    assert ENDPOINT[capability] in err.detail
    assert f"HTTP {status}" in err.detail
    assert API_KEY not in str(err)
    assert not list(tmp_path.iterdir())  # no partial media file left behind


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_retry_after_is_exposed(fake_openai: FakeOpenAIServer, tmp_path: Path, capability):
    fake_openai.push("429")
    with pytest.raises(NFError) as info:
        _call(capability, fake_openai.base_url, tmp_path)
    assert info.value.context["retry_after"] == 7.0
    # A single attempt per call: the queued 429 was consumed by exactly one request.
    assert len(fake_openai.requests) == 1


def test_500_without_retry_after_has_none(fake_openai: FakeOpenAIServer, tmp_path: Path):
    fake_openai.push("500")
    with pytest.raises(NFError) as info:
        _call("chat", fake_openai.base_url, tmp_path)
    assert info.value.context["retry_after"] is None


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_slow_response_times_out(fake_openai: FakeOpenAIServer, tmp_path: Path, capability):
    fake_openai.push("slow")
    with pytest.raises(NFError) as info:
        _call(capability, fake_openai.base_url, tmp_path, timeout=0.3)
    assert (info.value.code, info.value.retryable) == ("NF-PROVIDER-003", True)
    assert ENDPOINT[capability] in info.value.detail


def test_mode_by_path_prefix(fake_openai: FakeOpenAIServer, tmp_path: Path):
    with pytest.raises(NFError) as info:
        _call("embedding", fake_openai.url_for("503"), tmp_path)
    assert info.value.code == "NF-PROVIDER-002"
    _call("embedding", fake_openai.base_url, tmp_path)  # the plain URL still succeeds


def test_connection_refused_is_retryable_server_failure(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(NFError) as info:
        _call("chat", f"http://127.0.0.1:{port}", tmp_path)
    err = info.value
    assert (err.code, err.retryable) == ("NF-PROVIDER-002", True)
    assert err.context["status"] is None
    assert f"127.0.0.1:{port}/v1/chat/completions" in err.detail


def test_api_key_never_leaks_even_when_server_echoes_it(
    fake_openai: FakeOpenAIServer, tmp_path: Path
):
    fake_openai.push("401")
    with pytest.raises(NFError) as info:
        _call("chat", fake_openai.base_url, tmp_path)
    err = info.value
    assert (err.code, err.retryable) == ("NF-PROVIDER-005", False)
    assert "Incorrect API key" in err.detail  # the server's reason is kept ...
    assert "***" in err.detail  # ... with the key masked
    assert API_KEY not in str(err) and API_KEY not in repr(err.context)
    assert API_KEY not in repr(_providers(fake_openai.base_url))


def test_non_image_bytes_are_malformed(fake_openai: FakeOpenAIServer, tmp_path: Path):
    fake_openai.push("not_image")
    with pytest.raises(NFError) as info:
        _call("image", fake_openai.base_url, tmp_path)
    assert (info.value.code, info.value.retryable) == ("NF-PROVIDER-004", False)
    assert "does not decode" in info.value.detail
    assert not (tmp_path / "img.png").exists()


def test_non_base64_image_is_malformed(fake_openai: FakeOpenAIServer, tmp_path: Path):
    fake_openai.push(FakeResponse(200, {"data": [{"b64_json": "not base64 at all!"}]}))
    with pytest.raises(NFError) as info:
        _call("image", fake_openai.base_url, tmp_path)
    assert info.value.code == "NF-PROVIDER-004"


def test_truncated_png_is_malformed(fake_openai: FakeOpenAIServer, tmp_path: Path):
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (1, 2, 3)).save(buf, format="PNG")
    cut = base64.b64encode(buf.getvalue()[:-40]).decode()
    fake_openai.push(FakeResponse(200, {"data": [{"b64_json": cut}]}))
    with pytest.raises(NFError) as info:
        _call("image", fake_openai.base_url, tmp_path)
    assert info.value.code == "NF-PROVIDER-004"


def test_bad_wav_is_malformed(fake_openai: FakeOpenAIServer, tmp_path: Path):
    fake_openai.push("bad_wav")
    with pytest.raises(NFError) as info:
        _call("speech", fake_openai.base_url, tmp_path)
    assert (info.value.code, info.value.retryable) == ("NF-PROVIDER-004", False)
    assert not (tmp_path / "a.wav").exists()


def test_inconsistent_embedding_dims_are_malformed(fake_openai: FakeOpenAIServer, tmp_path):
    fake_openai.push("wrong_dims")
    with pytest.raises(NFError) as info:
        _call("embedding", fake_openai.base_url, tmp_path)
    assert info.value.code == "NF-PROVIDER-004"
    assert "inconsistent dimensions" in info.value.detail


def test_embedding_width_must_match_configuration(fake_openai: FakeOpenAIServer):
    client = OpenAIHTTPClient(fake_openai.base_url)
    provider = OpenAIEmbeddingProvider(client, "fake-embed", dimensions=16)
    with pytest.raises(NFError) as info:
        provider.embed(["a"])
    assert info.value.code == "NF-PROVIDER-004"


def test_embedding_width_stays_fixed_after_first_answer(fake_openai: FakeOpenAIServer):
    provider = _providers(fake_openai.base_url).embedding_provider()
    provider.embed(["a"])
    fake_openai.embedding_dims = 9  # the server changes model behind our back
    with pytest.raises(NFError) as info:
        provider.embed(["b"])
    assert info.value.code == "NF-PROVIDER-004"


def test_embedding_count_mismatch_is_malformed(fake_openai: FakeOpenAIServer):
    fake_openai.push(FakeResponse(200, {"data": [{"index": 0, "embedding": [1.0]}]}))
    with pytest.raises(NFError) as info:
        _providers(fake_openai.base_url).embedding_provider().embed(["a", "b"])
    assert info.value.code == "NF-PROVIDER-004"


def test_chat_null_content_is_malformed(fake_openai: FakeOpenAIServer):
    fake_openai.push(FakeResponse(200, {"choices": [{"message": {"content": None}}]}))
    with pytest.raises(NFError) as info:
        _providers(fake_openai.base_url).chat_provider().chat("", "x")
    assert info.value.code == "NF-PROVIDER-004"


def test_not_configured():
    with pytest.raises(NFError) as info:
        OpenAIHTTPClient("")
    assert info.value.code == "NF-PROVIDER-006"
    with pytest.raises(NFError) as info:
        OpenAIHTTPProvider("http://127.0.0.1:9").image_provider()  # no image model
    assert info.value.code == "NF-PROVIDER-006"


@pytest.mark.parametrize("base_url", ["ftp://127.0.0.1:9", "127.0.0.1:8000"])
def test_unusable_base_url_is_not_configured(base_url: str, tmp_path: Path):
    with pytest.raises(NFError) as info:
        _call("chat", base_url, tmp_path)
    assert (info.value.code, info.value.retryable) == ("NF-PROVIDER-006", False)


def test_credentials_in_url_are_not_shown(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NFError) as info:
        _call("chat", f"http://user:hunter2@127.0.0.1:{port}", tmp_path)
    assert "hunter2" not in str(info.value)


# --- helpers ----------------------------------------------------------------------------------


def test_parse_retry_after():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


def test_normalize_wav_converts_float_to_pcm():
    samples = np.array([0.0, 0.5, -0.5, 1.0], dtype="<f4")
    pcm = samples.tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        3,
        1,
        8000,
        32000,
        4,
        32,
        b"data",
        len(pcm),
    )
    data, info = normalize_wav(header + pcm)
    assert (info.frames, info.sample_width, info.sample_rate) == (4, 2, 8000)
    with wave.open(io.BytesIO(data)) as wav:
        frames = np.frombuffer(wav.readframes(4), dtype="<i2")
    assert frames.tolist() == [0, 16383, -16383, 32767]


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"RIFF\x00\x00\x00\x00WAVE",  # no chunks
        make_wav(0.1)[:36],  # fmt but no data chunk
        make_wav(0.0),  # zero frames
        b"ID3" + b"\x00" * 100,  # an MP3, not a WAV
    ],
)
def test_normalize_wav_rejects(blob: bytes):
    with pytest.raises(ValueError):
        normalize_wav(blob)


def test_provider_classes_reachable_directly(fake_openai: FakeOpenAIServer, tmp_path: Path):
    client = OpenAIHTTPClient(fake_openai.base_url, timeout=5)
    img = OpenAIImageProvider(client, "m", default_size="320x200").render("p", {}, tmp_path / "i")
    assert (img.width, img.height) == (320, 200)
    sp = OpenAISpeechProvider(client, "m").speak("hi", "", tmp_path / "s.wav")
    assert fake_openai.requests[-1].json["voice"] == "alloy"  # default voice when none given
    assert sp.seconds > 0
