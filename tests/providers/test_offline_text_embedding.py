"""Offline chat (extractive) and embedding (hashed char n-grams) providers."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nf_services.providers.base import ChatProvider, EmbeddingProvider
from nf_services.providers.offline_embedding import HashingNgramEmbedding
from nf_services.providers.offline_text import (
    OfflineChatProvider,
    approx_tokens,
    condense,
    split_sentences,
)

REPO = Path(__file__).resolve().parents[2]

WHALE = (
    "Call me Ishmael. The white whale swam past the ship. Ahab hated the white whale. "
    "Lunch was served at noon. Every sailor feared the white whale. The weather was mild."
)
ZH = (
    "黛玉自那日弃舟登岸时，便有荣国府打发了轿子并拉行李的车辆久候了。"
    "这林黛玉常听得母亲说过，他外祖母家与别家不同。"
    "他近日所见的这几个三等仆妇，吃穿用度，已是不凡了，何况今至其家。"
    "因此步步留心，时时在意，不肯轻易多说一句话，多行一步路，恐被人耻笑了他去。"
    "自上了轿，进入城中从纱窗向外瞧了一瞧，其街市之繁华，人烟之阜盛，自与别处不同。"
    "林黛玉想着外祖母家，林黛玉又想着母亲的话。"
)


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- sentence splitting and token estimate ----------------------------------------------------


def test_split_sentences_mixed_and_quoted():
    text = "他说：“走吧。”她笑了！\nMr Smith left. He came back?  Yes."
    assert split_sentences(text) == [
        "他说：“走吧。”",
        "她笑了！",
        "Mr Smith left.",
        "He came back?",
        "Yes.",
    ]


def test_split_undoes_hard_wraps_but_keeps_headings():
    text = (
        "CHAPTER I\n"
        "It is a truth universally acknowledged, that a single man\n"
        "in possession of a good fortune must be in want of a wife.\n"
        "\n第一回 灵根育孕源流出\n诗曰：\n混沌未分天地乱"
    )
    assert split_sentences(text) == [
        "CHAPTER I",
        "It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune must be in want of a wife.",
        "第一回 灵根育孕源流出",
        "诗曰：",
        "混沌未分天地乱",
    ]


def test_fragments_lose_to_full_sentences():
    text = "是。" * 3 + "孙悟空拜菩提祖师为师学艺，孙悟空学会七十二般变化。" + "不能。" * 2
    # Only one of them fits in 26 tokens; the frequent one-word "是。" must not win.
    assert condense(text, 26) == "孙悟空拜菩提祖师为师学艺，孙悟空学会七十二般变化。"


def test_split_keeps_decimals_together():
    assert split_sentences("Pi is 3.14 roughly. Next.") == ["Pi is 3.14 roughly.", "Next."]


def test_approx_tokens_counts_cjk_chars_and_quarter_latin():
    assert approx_tokens("林黛玉") == 3
    assert approx_tokens("abcdefgh") == 2
    assert approx_tokens("林abcd") == 2
    assert approx_tokens("") == 0


# --- offline chat -----------------------------------------------------------------------------


def test_short_input_is_returned_whole():
    assert condense("One line. Two lines.", 100) == "One line. Two lines."


def test_picks_the_sentence_dense_in_frequent_content():
    # "white" and "whale" are the most frequent content words; the shortest sentence made of
    # them (and nothing else much) wins when only one sentence fits.
    assert condense(WHALE, 9) == "Ahab hated the white whale."


def test_redundancy_is_penalised_and_order_kept():
    out = condense(WHALE, 25)
    picked = split_sentences(out)
    sentences = split_sentences(WHALE)
    assert all(p in sentences for p in picked)
    assert [sentences.index(p) for p in picked] == sorted(sentences.index(p) for p in picked)
    # After one "white whale" sentence the others lose weight, so not all three are taken.
    assert sum("white whale" in p for p in picked) < 3
    assert approx_tokens(out) <= 25


@pytest.mark.parametrize("budget", [1, 5, 12, 30, 60, 90])
def test_chinese_budget_respected_and_extractive(budget: int):
    out = condense(ZH, budget)
    assert 0 < approx_tokens(out) <= budget
    if budget >= 30:  # whole sentences once at least one fits
        assert all(s in ZH for s in split_sentences(out))
    else:
        assert out in ZH  # a prefix of one sentence


def test_chinese_prefers_repeated_name():
    # The last sentence repeats 林黛玉/外祖母/母亲, the text's recurring bigrams.
    out = condense(ZH, 25)
    assert "林黛玉想着外祖母家" in out


def test_offline_chat_is_deterministic_and_counts_usage():
    provider = OfflineChatProvider()
    a = provider.chat("请总结。", ZH, max_tokens=40)
    b = OfflineChatProvider().chat("请总结。", ZH, max_tokens=40)
    assert a == b
    expected = approx_tokens("请总结。") + approx_tokens(ZH) + approx_tokens(a.text)
    assert a.usage.units == expected
    assert (a.usage.unit, a.usage.cost_usd, a.usage.provider) == (
        "tokens",
        0.0,
        "offline-extractive",
    )
    assert isinstance(provider, ChatProvider)


def test_zero_budget_and_empty_input():
    provider = OfflineChatProvider()
    assert provider.chat("", WHALE, max_tokens=0).text == ""
    assert provider.chat("", "   \n ", max_tokens=50).text == ""


# --- offline embedding ------------------------------------------------------------------------


def test_embedding_dims_norm_and_determinism():
    emb = HashingNgramEmbedding()
    result = emb.embed(["林黛玉进贾府", "The white whale", "a"])
    assert result.dimensions == emb.dimensions == 512
    assert all(len(v) == 512 for v in result.vectors)
    for v in result.vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-9)
    assert HashingNgramEmbedding().embed(["林黛玉进贾府"]).vectors[0] == result.vectors[0]
    assert (result.usage.units, result.usage.unit, result.usage.cost_usd) == (3.0, "texts", 0.0)
    assert isinstance(emb, EmbeddingProvider)


def test_embedding_similarity_tracks_shared_characters():
    emb = HashingNgramEmbedding(dimensions=256)
    base, near, far = (
        emb.vector("林黛玉进贾府"),
        emb.vector("林黛玉初进荣国府"),
        emb.vector("宝玉挨打"),
    )
    assert _cos(base, near) > _cos(base, far)
    eng = emb.vector("the white whale")
    assert _cos(eng, emb.vector("a white whale")) > _cos(eng, emb.vector("lunch at noon"))


def test_embedding_normalises_width_and_case():
    emb = HashingNgramEmbedding()
    assert emb.vector("ＡＢＣ　１２３") == emb.vector("abc 123")


def test_embedding_empty_text_is_zero_vector():
    assert HashingNgramEmbedding(dimensions=16).vector("  ") == [0.0] * 16


def test_embedding_model_name_encodes_parameters():
    assert HashingNgramEmbedding(dimensions=64, n_max=2).model == "char-ngram-1-2-d64"
    with pytest.raises(ValueError):
        HashingNgramEmbedding(dimensions=1)
    with pytest.raises(ValueError):
        HashingNgramEmbedding(n_min=3, n_max=2)


def test_embedding_is_stable_across_processes():
    # Python's str hash is salted per process; the provider must not depend on it.
    code = (
        "from nf_services.providers.offline_embedding import HashingNgramEmbedding as H;"
        "print(repr(H(dimensions=32).vector('红楼梦 dream')))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == repr(HashingNgramEmbedding(dimensions=32).vector("红楼梦 dream"))
