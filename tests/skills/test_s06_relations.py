from __future__ import annotations

from nf_skills import s06_relations as s06
from nf_skills.contracts import Chapter, Character, CharacterList
from nf_skills.s05_characters import extract_characters
from nf_skills.s06_relations import relation_graph
from tests.skills.understanding_corpus import corpus_chapters

CAST = CharacterList(
    characters=[
        Character(name="孙悟空", aliases=["行者", "悟空"], mentions=9),
        Character(name="猪八戒", aliases=["八戒"], mentions=5),
        Character(name="唐僧", aliases=["三藏"], mentions=4),
    ],
    skill_version="t",
)
TEXT = "\n\n".join(
    [
        "行者与八戒同行。悟空笑了。",  # 孙悟空-猪八戒
        "三藏独自念经。",
        "八戒对三藏说话。",  # 猪八戒-唐僧
        "行者回来了，八戒也来了。",  # 孙悟空-猪八戒
    ]
)


def test_paragraph_cooccurrence_with_aliases() -> None:
    g = relation_graph([Chapter(index=1, title="t", text=TEXT)], CAST)
    got = {(r.a, r.b): r.weight for r in g.relations}
    assert got == {("孙悟空", "猪八戒"): 2, ("唐僧", "猪八戒"): 1}
    assert g.skill_version == s06.VERSION
    assert all(r.a < r.b for r in g.relations)
    assert [r.weight for r in g.relations] == sorted((r.weight for r in g.relations), reverse=True)


def test_window_of_two_paragraphs() -> None:
    g = relation_graph([Chapter(index=1, title="t", text=TEXT)], CAST, window=2, language="zh")
    got = {frozenset((r.a, r.b)): r.weight for r in g.relations}
    # windows of paragraphs (1,2) (2,3) (3,4)
    assert got[frozenset(("孙悟空", "唐僧"))] == 2
    assert got[frozenset(("唐僧", "猪八戒"))] == 3
    assert got[frozenset(("孙悟空", "猪八戒"))] == 2
    g = relation_graph([Chapter(index=1, title="t", text=TEXT)], CAST, min_weight=2)
    assert [(r.a, r.b) for r in g.relations] == [("孙悟空", "猪八戒")]


def test_no_characters_no_edges() -> None:
    empty = CharacterList(characters=[], skill_version="t")
    assert relation_graph([Chapter(index=1, title="t", text=TEXT)], empty).relations == []


def test_pride_and_prejudice_strongest_ties() -> None:
    chapters = list(corpus_chapters("en_pride_and_prejudice.txt"))
    cast = extract_characters(chapters, "en", top_n=15)
    g = relation_graph(chapters, cast)
    top = {frozenset((r.a, r.b)) for r in g.relations[:8]}
    eliz = next(c.name for c in cast.characters if "Elizabeth" in {c.name, *c.aliases})
    darcy = next(c.name for c in cast.characters if "Darcy" in {c.name, *c.aliases})
    jane = next(c.name for c in cast.characters if c.name == "Jane")
    assert frozenset((eliz, darcy)) in top
    assert frozenset((eliz, jane)) in top
