"""Provider registry: building from config and skill-version > project > defaults > offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nf_services.providers.base import ImageProvider, SpeechProvider
from nf_services.providers.http_openai import (
    OpenAIChatProvider,
    OpenAIEmbeddingProvider,
    OpenAIImageProvider,
    OpenAISpeechProvider,
)
from nf_services.providers.offline_embedding import HashingNgramEmbedding
from nf_services.providers.offline_text import OfflineChatProvider
from nf_services.providers.registry import (
    build_provider,
    build_providers,
    redacted,
    resolve_config,
    select_provider,
    settings_config,
)
from shared.errors import NFError
from tests.providers.fake_openai import FakeOpenAIServer

PROJECT = {
    "chat": {
        "kind": "openai",
        "base_url": "http://llm.internal:8000/v1",
        "model": "project-model",
        "api_key": "sk-project",
        "timeout": 12,
    },
    "embedding": {"kind": "offline", "dimensions": 128},
}


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_default_is_offline():
    chat = select_provider("chat", {}, None)
    emb = select_provider("embedding", None)
    assert isinstance(chat, OfflineChatProvider)
    assert isinstance(emb, HashingNgramEmbedding) and emb.dimensions == 512


def test_project_config_selects_openai():
    chat = select_provider("chat", PROJECT)
    assert isinstance(chat, OpenAIChatProvider)
    assert chat.model == "project-model"
    assert chat.client.api_key == "sk-project"
    assert chat.client.timeout == 12.0
    assert (
        chat.client.endpoint("chat/completions") == "http://llm.internal:8000/v1/chat/completions"
    )
    emb = select_provider("embedding", PROJECT)
    assert isinstance(emb, HashingNgramEmbedding) and emb.dimensions == 128


def test_skill_version_changing_only_the_model_keeps_the_endpoint():
    chat = select_provider("chat", PROJECT, {"chat": {"model": "skill-model"}})
    assert isinstance(chat, OpenAIChatProvider)
    assert (chat.model, chat.client.api_key) == ("skill-model", "sk-project")


def test_skill_version_with_other_endpoint_does_not_inherit_the_key():
    skill = {"chat": {"base_url": "http://other:9000", "model": "m2"}}
    cfg = resolve_config("chat", PROJECT, skill)
    assert cfg == {"kind": "openai", "base_url": "http://other:9000", "model": "m2"}
    chat = select_provider("chat", PROJECT, skill)
    assert isinstance(chat, OpenAIChatProvider)
    assert chat.client.api_key is None and chat.client.timeout == 60.0


def test_skill_version_with_other_kind_replaces_section():
    skill = {"chat": {"kind": "offline"}}
    assert resolve_config("chat", PROJECT, skill) == {"kind": "offline"}


def test_skill_version_can_force_offline():
    chat = select_provider("chat", PROJECT, {"chat": {"kind": "offline"}})
    assert isinstance(chat, OfflineChatProvider)


def test_skill_version_section_for_another_capability_does_not_interfere():
    chat = select_provider("chat", PROJECT, {"embedding": {"kind": "offline", "dimensions": 64}})
    assert isinstance(chat, OpenAIChatProvider) and chat.model == "project-model"


def test_defaults_layer_sits_below_project():
    defaults = {"chat": {"kind": "openai", "base_url": "http://default:1", "model": "d"}}
    assert select_provider("chat", {}, defaults=defaults).model == "d"
    assert select_provider("chat", PROJECT, defaults=defaults).model == "project-model"
    assert isinstance(
        select_provider("chat", {}, {"chat": {"kind": "offline"}}, defaults=defaults),
        OfflineChatProvider,
    )


def test_nested_providers_key_is_accepted():
    project = {"name": "p", "providers": {"chat": PROJECT["chat"]}}
    assert isinstance(select_provider("chat", project), OpenAIChatProvider)


def test_openai_for_every_capability():
    base = {"kind": "openai", "base_url": "http://x:1"}
    config = {
        "chat": {**base, "model": "c"},
        "image": {**base, "model": "i", "default_size": "640x360"},
        "speech": {**base, "model": "s", "default_voice": "nova"},
        "embedding": {**base, "model": "e", "dimensions": 1024, "max_batch": 16},
    }
    built = build_providers(config)
    assert isinstance(built["chat"], OpenAIChatProvider)
    assert isinstance(built["image"], OpenAIImageProvider)
    assert built["image"].default_size == "640x360"
    assert isinstance(built["speech"], OpenAISpeechProvider)
    assert built["speech"].default_voice == "nova"
    assert isinstance(built["embedding"], OpenAIEmbeddingProvider)
    assert (built["embedding"].dimensions, built["embedding"].max_batch) == (1024, 16)


def test_prices_flow_into_provider():
    cfg = {
        "kind": "openai",
        "base_url": "http://x:1",
        "model": "m",
        "prices": {"m": {"input_per_1m": 1.5}},
    }
    chat = build_provider("chat", cfg)
    assert chat.prices["m"].input_per_1m == 1.5


def test_api_key_from_environment():
    cfg = {"kind": "openai", "base_url": "http://x:1", "model": "m", "api_key_env": "MY_KEY"}
    chat = build_provider("chat", cfg, environ={"MY_KEY": "sk-env"})
    assert chat.client.api_key == "sk-env"
    with pytest.raises(NFError) as info:
        build_provider("chat", cfg, environ={})
    assert info.value.code == "NF-PROVIDER-006"


@pytest.mark.parametrize(
    "section",
    [
        {"kind": "openai", "model": "m"},  # no base_url
        {"kind": "openai", "base_url": "http://x:1"},  # no model
        {"kind": "openai", "base_url": "http://x:1", "model": "m", "bogus": 1},
        {"kind": "replicate"},
        {"kind": "offline", "dimensions": 64},  # chat offline takes no dimensions
    ],
)
def test_misconfiguration_is_not_configured_error(section):
    with pytest.raises(NFError) as info:
        build_provider("chat", section)
    assert (info.value.code, info.value.retryable) == ("NF-PROVIDER-006", False)


def test_non_mapping_section_is_rejected():
    with pytest.raises(NFError) as info:
        select_provider("chat", {"chat": "openai"})
    assert info.value.code == "NF-PROVIDER-006"


def test_unknown_capability_is_a_programming_error():
    with pytest.raises(ValueError):
        select_provider("video", {})


def test_settings_config_from_environment():
    env = {
        "NF_CHAT_PROVIDER": "openai",
        "NF_OPENAI_BASE_URL": "http://shared:8000",
        "NF_CHAT_MODEL": "qwen",
        "NF_OPENAI_API_KEY_ENV": "SHARED_KEY",
        "NF_EMBEDDING_PROVIDER": "openai",
        "NF_EMBEDDING_BASE_URL": "http://emb:9000",
        "NF_EMBEDDING_MODEL": "bge",
        "SHARED_KEY": "sk-shared",
    }
    defaults = settings_config(env)
    assert set(defaults) == {"chat", "embedding"}
    assert defaults["embedding"]["base_url"] == "http://emb:9000"
    chat = select_provider("chat", {}, defaults=defaults, environ=env)
    assert isinstance(chat, OpenAIChatProvider) and chat.client.api_key == "sk-shared"
    assert "image" not in defaults  # not set -> stays offline


def test_redacted_hides_secrets():
    safe = redacted(PROJECT["chat"])
    assert safe["api_key"] == "***" and safe["model"] == "project-model"


def test_registry_built_provider_talks_to_fake_server(fake_openai: FakeOpenAIServer):
    project = {"chat": {"kind": "openai", "base_url": fake_openai.base_url, "model": "fake"}}
    chat = select_provider("chat", project)
    assert chat.chat("", "hello").text.startswith("fake reply to: hello")
    skill = {"chat": {"base_url": fake_openai.url_for("429"), "model": "fake"}}  # kind inherited
    with pytest.raises(NFError) as info:
        select_provider("chat", project, skill).chat("", "x")
    assert info.value.code == "NF-PROVIDER-001"


@pytest.mark.skipif(
    not _has("nf_services.providers.offline_image"), reason="offline_image not written yet"
)
def test_offline_image_is_built_lazily(tmp_path: Path):
    provider = select_provider("image", {})
    assert isinstance(provider, ImageProvider)


@pytest.mark.skipif(
    not _has("nf_services.providers.offline_speech"), reason="offline_speech not written yet"
)
def test_offline_speech_is_built_lazily():
    provider = select_provider("speech", {})
    assert isinstance(provider, SpeechProvider)
