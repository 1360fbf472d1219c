"""SKILL_14 persona cards: appearance, traits, speech style, colour and sample lines per character.

Everything comes from the text and is deterministic:
- appearance: descriptive phrases in sentences that mention the character (zh 生得/头戴/身穿/
  穿着 …; en "X was a tall young man", "X, a little old woman", "X's dark eyes", "with grey hair");
- traits: adjectives that come up around the character more than in the book at large (lift);
- speech style: from the character's attributed dialogue: length (terse/measured/verbose, the
  words SKILL_10 reads), share of exclamations and questions, the usual sentence end;
- colour: a fixed palette entry chosen by a hash of the name (stable across runs);
- gender: honorific (Mr./Lady/太爷/妈) or the pronouns that follow the name, when clear;
- person: whether the text shows a person (speaks, has a title, acts: `_personhood`), so a noun
  SKILL_05 took for a name (籍贯) keeps its card but is not drawn in panels.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

from nf_skills import _personhood
from nf_skills import _textkit as tk
from nf_skills.contracts import (
    Chapter,
    ChapterUnderstanding,
    CharacterList,
    DialogueLine,
    Persona,
)
from nf_skills.s08_dialogue import attribute_dialogue, character_genders

SKILL_ID = "SKILL_14"
VERSION = "1.1.0"

# soft, well separated hues that stay readable with white or black captions
PALETTE = [
    "#e07a5f", "#3d85c6", "#81b29a", "#f2cc8f", "#9b72cf", "#e69138", "#4fb0c6", "#c27ba0",
    "#6aa84f", "#d5a6bd", "#8d6e63", "#5c7cfa", "#f28482", "#2a9d8f", "#e9c46a", "#a7c957",
]  # fmt: skip

_ZH_LOOKS = re.compile(
    r"(?:生得|长得|生的|长的|相貌|模样|头戴|戴着|戴一|身穿|穿着|穿一|披着|腰系|腰束|手持|手执|"
    r"手拿|脚踏|足踏)[^，。；！？、“”\s]{1,12}"
)
_EN_LOOKS_NOUN = (
    r"eyes|eye|face|hair|figure|beard|voice|nose|mouth|hands|hand|arms|cheeks|complexion|"
    r"countenance|air|manner|person|features|smile|head|ears|neck|tail|coat|dress|gown|hat|"
    r"waistcoat|shoes|spectacles|whiskers|wings|paws"
)
_EN_ADJ_WORDS = r"(?:[a-z]+(?:-[a-z]+)?)"
_EN_PERSON_NOUN = (
    r"man|woman|girl|boy|lady|gentleman|child|creature|person|fellow|youth|animal|bird|beast|"
    r"soldier|officer|servant|king|queen|mother|father|sister|brother|wife|husband|friend"
)
_EN_NOT_ADJ = set(
    """a an the and or but not no very so too quite rather more most much many such own same this
    that his her its their my your our one two three some any all every each other another
    been being be was were is are had has have do did done going gone come came said say
    there here then than now just only also even still never ever always again soon""".split()
)
_EN_ADJ_SUFFIX = re.compile(
    r"(?:ful|ous|ive|less|able|ible|ish|ant|ent|ic|al|[^l]y|ed|est|ate|ile|id)$"
)
_EN_COMMON_ADJ = set(
    """angry proud kind cross happy sad glad sorry clever silly polite rude shy bold brave calm
    cold warm gentle grave tired young old little tall short fat thin pretty handsome plain ugly
    rich poor wise foolish sharp quick slow quiet loud eager anxious nervous timid fierce meek
    sweet bitter grand civil vain dull lively merry jealous patient haughty proud stern wild
    good bad great fine dear poor mad curious dark fair light black white red grey gray brown blue
    green golden long bright pale large small big round soft deep broad slender stout""".split()
)
_ZH_ADJ_TAGS = {"a", "ad", "an", "ag"}


def build_personas(
    characters: CharacterList,
    understandings: list[ChapterUnderstanding] | None,
    chapters: list[Chapter],
    language: str,
    top_n: int = 12,
) -> list[Persona]:
    """One persona card per character, for the `top_n` most mentioned ones, in that order."""
    zh = language == "zh"
    chars = characters.characters[:top_n]
    if not chars:
        return []
    texts = [tk.analysis_text(c.text, language) for c in chapters]
    dialogue = _dialogue(understandings, chapters, characters, language)
    matcher = tk.matcher_for(chars, language)
    sents = _sentences_by_character(texts, matcher, language)
    global_adj: Counter = Counter()
    for t in texts:
        global_adj.update(_adjectives(t, zh, cached=True))
    n_units = max(1, sum(_units(t, zh) for t in texts))
    genders = character_genders(
        "\n\n".join(texts),
        CharacterList(characters=chars, skill_version=characters.skill_version),
        language,
    )
    out = []
    for c in chars:
        mine = sents.get(c.name, [])
        lines = [d for d in dialogue if d.speaker == c.name]
        gender = genders.get(c.name)
        seen = _personhood.evidence(
            c.name, c.aliases, texts, language, speaks=bool(lines), gender=gender
        )
        out.append(
            Persona(
                name=c.name,
                aliases=list(c.aliases),
                appearance=_appearance(mine, c, language),
                traits=_traits(mine, global_adj, n_units, zh),
                speech_style=_speech_style(lines, zh),
                colour=colour_for(c.name),
                sample_lines=_samples(lines, zh),
                skill_version=VERSION,
                gender=gender,
                person=seen.person,
                person_evidence=seen.why,
            )
        )
    return out


def colour_for(name: str) -> str:
    """A palette colour chosen by a stable hash of the name."""
    h = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")
    return PALETTE[h % len(PALETTE)]


# --- inputs --------------------------------------------------------------------------------


def _dialogue(understandings, chapters, characters, language) -> list[DialogueLine]:
    if understandings:
        return [d for u in understandings for d in u.dialogue]
    return [d for ch in chapters for d in attribute_dialogue(ch, characters, language)]


def _sentences_by_character(texts, matcher: tk.NameMatcher, language: str) -> dict[str, list]:
    """Sentences mentioning exactly one character (so what is said there is about them), with
    the surface form used; at most 400 per character, spread over the book."""
    found: dict[str, list[tuple[str, str]]] = {}
    for text in texts:
        for a, b in tk.sentences(text, language):
            ms = list(matcher.finditer(text, a, b))
            names = {matcher.canonical(matcher.form(m)) for m in ms}
            if len(names) == 1:
                found.setdefault(names.pop(), []).append((text[a:b], matcher.form(ms[0])))
    for name, lst in found.items():
        if len(lst) > 400:
            step = len(lst) / 400
            found[name] = [lst[int(i * step)] for i in range(400)]
    return found


# --- appearance ----------------------------------------------------------------------------


def _appearance(sents: list[tuple[str, str]], c, language: str) -> str:
    phrases: Counter = Counter()
    first_seen: dict[str, int] = {}
    for i, (s, form) in enumerate(sents):
        for p in _look_phrases(s, form, language):
            phrases[p] += 1
            first_seen.setdefault(p, i)
    best = sorted(phrases, key=lambda p: (-phrases[p], first_seen[p]))[:3]
    best.sort(key=lambda p: first_seen[p])
    if not best:
        return ""
    return ("；" if language == "zh" else "; ").join(best)


def _look_phrases(s: str, form: str, language: str) -> list[str]:
    s = re.sub(r"\s+", " " if language != "zh" else "", s)
    if language == "zh":
        return [m.group() for m in _ZH_LOOKS.finditer(s)]
    name = re.escape(form).replace(r"\ ", r"\s+")
    adj = rf"(?:{_EN_ADJ_WORDS},?\s+){{1,3}}"
    det = r"(?:(?:a|an|his|her|its|their)\s+)?"
    pats = [
        rf"\b{name}\s+(?:was|is|looked|seemed)\s+(?:a|an)\s+({adj}(?:{_EN_PERSON_NOUN}))\b",
        rf"\b{name},\s+(?:a|an)\s+({adj}(?:{_EN_PERSON_NOUN}))\b",
        rf"\b{name}[’']s\s+({adj}(?:{_EN_LOOKS_NOUN}))\b",
        rf"\b{name}\s+had\s+{det}({adj}(?:{_EN_LOOKS_NOUN}))\b",
        rf"\bwith\s+{det}({adj}(?:{_EN_LOOKS_NOUN}))\b",
    ]
    out = []
    for p in pats:
        for m in re.finditer(p, s):
            words = m.group(1).replace(",", " ").split()
            if words and all(_is_adj(w) for w in words[:-1]):
                out.append(" ".join(words))
    return out


def _is_adj(w: str) -> bool:
    w = w.lower()
    if w in _EN_NOT_ADJ or w.endswith("ing"):
        return False
    return w in _EN_COMMON_ADJ or bool(_EN_ADJ_SUFFIX.search(w)) or "-" in w


# --- traits --------------------------------------------------------------------------------


def _units(text: str, zh: bool) -> int:
    return len(tk.CJK_RE.findall(text)) if zh else len(text.split())


def _adjectives(s: str, zh: bool, cached: bool = False) -> list[str]:
    if zh:
        tags = tk.word_tags()
        return [w for w in tk.cut(s, cached) if len(w) >= 2 and tags.get(w) in _ZH_ADJ_TAGS]
    out = []
    for m in re.finditer(
        r"\b(?:was|is|were|looked|seemed|felt|became|grew|very|so|too|quite|rather|most|"
        r"extremely|perfectly|really)\s+(?:very\s+|so\s+|too\s+|quite\s+|rather\s+|much\s+)?"
        r"([a-z]{3,})\b",
        s,
    ):
        w = m.group(1)
        if _is_adj(w):
            out.append(w)
    return out


def _traits(sents: list[tuple[str, str]], global_adj: Counter, n_units: int, zh: bool) -> list[str]:
    """Adjectives around the character, ranked by count x log(lift over the whole book)."""
    mine: Counter = Counter()
    for s, _form in sents:
        mine.update(_adjectives(s, zh))
    n_mine = max(1, sum(_units(s, zh) for s, _f in sents))
    scored = []
    for w, k in mine.items():
        if k < 2:
            continue
        lift = (k / n_mine) / (max(global_adj[w], k) / n_units)
        if lift > 1:
            scored.append((k * math.log(lift), w))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [w for _s, w in scored[:5]]


# --- speech --------------------------------------------------------------------------------


def _speech_style(lines: list[DialogueLine], zh: bool) -> str:
    if not lines:
        return "no attributed lines" if not zh else "无对白"
    texts = [d.quote.strip() for d in lines if d.quote.strip()]
    if not texts:
        return "no attributed lines" if not zh else "无对白"
    lengths = [len(tk.CJK_RE.findall(t)) if zh else len(t.split()) for t in texts]
    avg = sum(lengths) / len(lengths)
    excl = sum(1 for t in texts if re.search(r"[!！]", t)) / len(texts)
    ques = sum(1 for t in texts if re.search(r"[?？]", t)) / len(texts)
    terse, verbose = (12, 45) if zh else (8, 30)
    kind = "terse" if avg < terse else "verbose" if avg > verbose else "measured"
    ends = Counter(_sentence_end(t, zh) for t in texts)
    ends.pop("", None)
    end = ends.most_common(1)[0][0] if ends else ""
    unit = "chars" if zh else "words"
    style = (
        f"{kind}: {len(texts)} lines, avg {avg:.0f} {unit} per line; "
        f"{excl:.0%} exclamations, {ques:.0%} questions"
    )
    if end:
        style += f"; lines typically end with “{end}”"
    return style


def _sentence_end(t: str, zh: bool) -> str:
    t = t.rstrip(" ”’\"'_—-…")
    if zh:
        core = re.sub(r"[。！？!?，,…]+$", "", t)
        last = core[-1:] if core else ""
        return last if last in "呢吗么罢吧哩哇呀啊也哉乎耶矣了哪咧嗄" else (t[-1:] if t else "")
    m = re.search(r"[.!?—-]+$", t)
    return m.group()[-1] if m else ""


def _samples(lines: list[DialogueLine], zh: bool, k: int = 3) -> list[str]:
    """Up to k lines of a readable length, the longest ones, kept in story order."""
    lo, hi = (6, 60) if zh else (4, 30)

    def size(d: DialogueLine) -> int:
        return len(tk.CJK_RE.findall(d.quote)) if zh else len(d.quote.split())

    ok = [d for d in lines if lo <= size(d) <= hi]
    best = sorted(ok, key=lambda d: (-size(d), d.chapter_index, d.start))[:k]
    best.sort(key=lambda d: (d.chapter_index, d.start))
    return [re.sub(r"\s+", " " if not zh else "", d.quote).strip() for d in best]
