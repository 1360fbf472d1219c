"""Build providers from configuration, with skill-version > project > settings > offline.

A provider config is one section per capability::

    {"chat": {"kind": "openai", "base_url": "http://vllm:8000/v1", "model": "qwen2.5-7b",
              "api_key_env": "VLLM_KEY", "timeout_seconds": 60, "prices": {...}},
     "embedding": {"kind": "offline", "dimensions": 512}}

A project config may hold these sections at the top level or under "providers". A higher layer's
section is merged onto the lower one when it keeps the same kind and base_url (so a skill version
can change just the model). Naming another kind replaces the section; naming another base_url
keeps only the kind, so a lower layer's api key is never sent to a different server.

`timeout_seconds` (alias `timeout`) is the HTTP timeout of one call; without it, the
environment's NF_<CAP>_TIMEOUT_SECONDS or NF_OPENAI_TIMEOUT_SECONDS, else 60 s. Every OpenAI
provider built here gets the process's circuit breaker for its capability, server and model
(health.py).

Offline image/speech providers live in modules owned elsewhere; they are imported inside the
factory so this module loads without them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

from nf_services.providers import health
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
    OpenAIImageProvider,
    OpenAISpeechProvider,
)
from nf_services.providers.offline_embedding import HashingNgramEmbedding
from nf_services.providers.offline_text import OfflineChatProvider
from shared.errors import NFError

Capability = Literal["chat", "image", "speech", "embedding"]
CAPABILITIES: tuple[str, ...] = ("chat", "image", "speech", "embedding")
Provider = ChatProvider | ImageProvider | SpeechProvider | EmbeddingProvider

_SECRET_KEYS = frozenset({"api_key"})
DEFAULT_TIMEOUT_SECONDS = 60.0


def _check_capability(capability: str) -> None:
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown provider capability {capability!r}; expected {CAPABILITIES}")


def _section(config: Mapping[str, Any] | None, capability: str) -> dict[str, Any] | None:
    if not config:
        return None
    nested = config.get("providers")
    source = nested if isinstance(nested, Mapping) else config
    section = source.get(capability)
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise NFError("NF-PROVIDER-006", f"provider config for {capability!r} is not a mapping")
    return dict(section)


def _layer(lower: dict[str, Any], upper: dict[str, Any]) -> dict[str, Any]:
    if "kind" in upper and upper["kind"] != lower.get("kind"):
        return dict(upper)
    if "base_url" in upper and upper["base_url"] != lower.get("base_url"):
        # Another server: keep only the kind, never the lower layer's credentials or options.
        return {"kind": lower.get("kind", "offline"), **upper}
    return {**lower, **upper}


def settings_config(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Process-wide defaults from the environment (the layer under project config).

    NF_<CAP>_PROVIDER=offline|openai, NF_<CAP>_BASE_URL, NF_<CAP>_MODEL, NF_<CAP>_API_KEY_ENV,
    NF_<CAP>_TIMEOUT_SECONDS (CAP = CHAT, IMAGE, SPEECH, EMBEDDING); NF_OPENAI_BASE_URL,
    NF_OPENAI_API_KEY_ENV and NF_OPENAI_TIMEOUT_SECONDS are shared fallbacks. Capabilities
    without NF_<CAP>_PROVIDER are left out (offline default).
    """
    env = os.environ if environ is None else environ
    out: dict[str, dict[str, Any]] = {}
    for cap in CAPABILITIES:
        prefix = f"NF_{cap.upper()}_"
        kind = env.get(prefix + "PROVIDER")
        if not kind:
            continue
        section: dict[str, Any] = {"kind": kind}
        for key, names in (
            ("base_url", (prefix + "BASE_URL", "NF_OPENAI_BASE_URL")),
            ("model", (prefix + "MODEL",)),
            ("api_key_env", (prefix + "API_KEY_ENV", "NF_OPENAI_API_KEY_ENV")),
        ):
            value = next((env[n] for n in names if env.get(n)), None)
            if value:
                section[key] = value
        if kind != "offline":
            timeout = _env_timeout(cap, env)
            if timeout is not None:
                section["timeout_seconds"] = timeout
        out[cap] = section
    return out


def _env_timeout(capability: str, env: Mapping[str, str]) -> float | None:
    for name in (f"NF_{capability.upper()}_TIMEOUT_SECONDS", "NF_OPENAI_TIMEOUT_SECONDS"):
        if env.get(name):
            return _timeout(env[name], name)
    return None


def _timeout(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise NFError("NF-PROVIDER-006", f"{where} must be a positive number of seconds: {value!r}")
    return seconds


def resolve_config(
    capability: str,
    project_config: Mapping[str, Any] | None,
    skill_version_config: Mapping[str, Any] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The effective section for one capability after layering (offline when nothing is set)."""
    _check_capability(capability)
    resolved: dict[str, Any] = {"kind": "offline"}
    for layer in (defaults, project_config, skill_version_config):
        section = _section(layer, capability)
        if section is not None:
            resolved = _layer(resolved, section)
    return resolved


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config safe to log or store: secrets replaced."""
    return {k: ("***" if k in _SECRET_KEYS and v else v) for k, v in config.items()}


def _api_key(section: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    if section.get("api_key"):
        return str(section["api_key"])
    env_name = section.get("api_key_env")
    if env_name:
        key = environ.get(str(env_name))
        if not key:
            raise NFError("NF-PROVIDER-006", f"environment variable {env_name} is not set")
        return key
    return None


def _offline_image(options: dict[str, Any]) -> ImageProvider:
    from nf_services.providers.offline_image import OfflinePanelProvider

    return OfflinePanelProvider(**options)


def _offline_speech(options: dict[str, Any]) -> SpeechProvider:
    from nf_services.providers.offline_speech import EspeakSpeechProvider

    return EspeakSpeechProvider(**options)


def _piper(options: dict[str, Any]) -> SpeechProvider:
    # the optional natural English voice (extra `voice-piper`); piper itself runs in its own
    # process, this module only starts it
    from nf_services.providers.piper_speech import PiperSpeechProvider

    try:
        return PiperSpeechProvider(**options)
    except TypeError as exc:
        raise NFError("NF-PROVIDER-006", f"speech provider 'piper': {exc}") from None


def _offline_embedding(options: dict[str, Any]) -> EmbeddingProvider:
    return HashingNgramEmbedding(**options)


def _offline_chat(options: dict[str, Any]) -> ChatProvider:
    return OfflineChatProvider(**options)


_OFFLINE: dict[str, Callable[[dict[str, Any]], Provider]] = {
    "chat": _offline_chat,
    "image": _offline_image,
    "speech": _offline_speech,
    "embedding": _offline_embedding,
}


def _openai(capability: str, section: Mapping[str, Any], environ: Mapping[str, str]) -> Provider:
    opts = dict(section)
    base_url = opts.pop("base_url", None)
    model = opts.pop("model", None)
    if not base_url:
        raise NFError("NF-PROVIDER-006", f"{capability} provider 'openai' needs base_url")
    if not model:
        raise NFError("NF-PROVIDER-006", f"{capability} provider 'openai' needs model")
    timeout = opts.pop("timeout_seconds", None)
    legacy = opts.pop("timeout", None)
    if timeout is None:
        timeout = legacy
    if timeout is None:
        timeout = _env_timeout(capability, environ)
    client = OpenAIHTTPClient(
        str(base_url),
        api_key=_api_key(opts, environ),
        timeout=_timeout(
            DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout, "timeout_seconds"
        ),
    )
    client.breaker_key = health.breaker_key(capability, client.public_root, str(model))
    for key in ("kind", "api_key", "api_key_env"):
        opts.pop(key, None)
    classes: dict[str, Callable[..., Provider]] = {
        "chat": OpenAIChatProvider,
        "image": OpenAIImageProvider,
        "speech": OpenAISpeechProvider,
        "embedding": OpenAIEmbeddingProvider,
    }
    try:
        return classes[capability](client, str(model), **opts)
    except TypeError as exc:  # an option the provider does not know
        raise NFError("NF-PROVIDER-006", f"{capability} provider 'openai': {exc}") from None


def build_provider(
    capability: str,
    section: Mapping[str, Any] | None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Provider:
    """One provider from one config section ({"kind": "offline"|"openai", ...}; speech also
    takes "piper", the optional natural English voice)."""
    _check_capability(capability)
    section = dict(section or {"kind": "offline"})
    kind = section.get("kind", "offline")
    env = os.environ if environ is None else environ
    if kind == "offline":
        options = {k: v for k, v in section.items() if k != "kind"}
        try:
            return _OFFLINE[capability](options)
        except TypeError as exc:
            raise NFError("NF-PROVIDER-006", f"{capability} provider 'offline': {exc}") from None
    if kind == "openai":
        return _openai(capability, section, env)
    if kind == "piper" and capability == "speech":
        return _piper({k: v for k, v in section.items() if k != "kind"})
    raise NFError("NF-PROVIDER-006", f"unknown {capability} provider kind {kind!r}")


def build_providers(
    config: Mapping[str, Any] | None, *, environ: Mapping[str, str] | None = None
) -> dict[str, Provider]:
    """All four providers from one config (missing sections are offline)."""
    return {
        cap: build_provider(cap, _section(config, cap), environ=environ) for cap in CAPABILITIES
    }


def select_provider(
    kind: str,
    project_config: Mapping[str, Any] | None,
    skill_version_config: Mapping[str, Any] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Provider:
    """The provider for capability `kind` ("chat"|"image"|"speech"|"embedding").

    Precedence: skill-version config > project config > `defaults` (e.g. settings_config())
    > offline.
    """
    section = resolve_config(kind, project_config, skill_version_config, defaults=defaults)
    return build_provider(kind, section, environ=environ)
