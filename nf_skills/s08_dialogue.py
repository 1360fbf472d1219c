"""SKILL_08 dialogue attribution: find the quotations of a chapter and decide who speaks each.

Rules, most specific first; each attribution carries a confidence, and a quote whose best
answer is below `THRESHOLD` stays unattributed (speaker None) rather than guessed.
- script lines: `Name：台词` / `NAME: line` at a line start (tag, 0.95).
- zh tags: a speech verb (道/说/问/笑道/叫道 ...; never 想-like verbs of thought) with its
  subject before the quote (`行者道：“…”`, `他握住了胡永合的手，说：` -> 他, the subject, not the
  object), or right after it (`“…”八戒道`); a colon ending the previous paragraph carries over.
- en tags: `“…,” said Alice` / `“…,” the Queen said` / `Alice said, “…”` / `said the Hatter, “…”`;
  the subject of the speech verb, not its object ("She saw Kitty and exclaimed" -> she), across
  clauses ("Lydia, who, flying to her, cried" -> Lydia; "the King looked at the Rabbit, who
  said" -> the Rabbit); sentences never end at "Mr."/"Mrs."/"Dr."; inflected verbs (saying,
  remarked, called out); a tag naming no known character ("said a voice") marks someone else.
- first person: `I said` is the narrator; in a first-person chapter the narrator is the name
  others address in the lines around the narrator's own (“…, Hastings?” / “…,” I said).
- English keeps one speaker per paragraph; a narration beat before the quote in its paragraph
  ("Elizabeth smiled. “…”") names the speaker.
- conversations: runs of adjacent dialogue paragraphs (narration resets them); known speakers
  anchor them, turns alternate (A, B, A, B) from the nearest anchor, forwards and backwards; a
  run with one known speaker takes as the other the one addressed by name (vocative), else the
  other character named just before the run; a line answers the one it addressed (“…, Jane.”).
- pronouns (he/she/他/她 said) go to the nearest character of that gender named before,
  preferring someone other than the speaker just answered.
Names and aliases map to the canonical character name. `cue` is the verb for tags, else the
rule; `rule` is the rule class and `confidence` its score.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from nf_skills._textkit import (
    NameMatcher,
    Quote,
    analysis_text,
    honorific_gender,
    matcher_for,
    paragraphs,
    pronoun_votes,
    quotes,
)
from nf_skills.contracts import Chapter, CharacterList, DialogueLine

SKILL_ID = "SKILL_08"
VERSION = "1.2.0"

THRESHOLD = 0.35  # below: unattributed

# zh: the verbs of a speech tag (X道 / X笑道 / X说 ...). An explicit list, not "any char + 道",
# so that the name before the verb is never swallowed by the verb. Verbs of thought (想/思忖/
# 心里说) are no speech: a thought is not a line to voice.
_ZH_VERB = (
    r"(?:冷笑道|大叫道|高叫道|厉声道|低声道|笑道|说道|问道|叫道|喝道|答道|骂道|叹道|哭道|喊道|"
    r"嚷道|应道|回道|告道|禀道|奏道|怒道|喜道|惊道|念道|吟道|吼道|笑着说|回答说|回答|"
    r"骂|道|说|问|曰|叫|喝|嚷|喊|答|应|吼|插话|插嘴|开口)"
)
_ZH_THOUGHT = re.compile(
    r"(?:想|思忖|寻思|思量|心里说|心中说|暗想|心想|默念|盘算)[了着道]?\s*[：:，,]?\s*$"
)
_ZH_TAG_END = re.compile(rf"({_ZH_VERB})[了着]?\s*[：:，,]?\s*$")
_ZH_PRONOUN = re.compile(r"(他|她|伊|我)(?!们)")
_ZH_STOP = "。！？!?；;”」\n"
# chars right before a name that make it an object, not the subject (对少平说, 握住了胡永合的手)
_ZH_OBJ_BEFORE = set("对向跟和与同给把将被叫问见看握拉望朝替让找扶搂抱推拍瞪盯")

# en speech verbs: base forms, inflected below (say/said/saying ...). No verbs of thought
# outside the tag right after a quote (“…,” thought Alice).
_EN_BASES = (
    "ask answer exclaim shout whisper mutter add continue remark observe return repeat scream "
    "shriek call roar sigh sob interrupt plead growl inquire enquire yell murmur persist resume "
    "retort urge declare explain protest insist suggest admit agree announce argue beg command "
    "complain confess demand gasp groan grumble laugh moan mumble object order pursue rejoin "
    "respond snap sneer stammer stutter thunder vow warn accost cackle chorus hiss howl bawl pant "
    "whimper wail venture conclude correct proceed recommence echo breathe drawl lisp falter "
    "bellow simper squeak reply cry hurry observe grunt bark chuckle giggle smile nod"
).split()
_EN_IRREGULAR = "said says say saying told tell telling began begin begins beginning spoke speak speaks speaking went\\s+on goes\\s+on going\\s+on"  # noqa: E501


def _inflect(base: str) -> list[str]:
    if base.endswith("y") and base[-2] not in "aeiou":
        return [base, base[:-1] + "ies", base[:-1] + "ied", base + "ing"]
    if base.endswith("e"):
        return [base, base + "s", base + "d", base[:-1] + "ing"]
    if re.search(r"[^aeiou][aeiou][bdgmnpt]$", base) and base not in ("answer", "order"):
        return [base, base + "s", base + base[-1] + "ed", base + base[-1] + "ing", base + "ed"]
    s = "es" if base.endswith(("sh", "ch", "s", "x")) else "s"
    return [base, base + s, base + "ed", base + "ing"]


_EN_SAY = (
    r"(?:"
    + "|".join(
        sorted(
            {f for b in _EN_BASES for f in _inflect(b)} | set(_EN_IRREGULAR.split()),
            key=lambda f: -len(f),
        )
    )
    + r")(?:\s+(?:out|back|up|again))?"
)
_EN_THOUGHT = r"(?:thought|thinks|think|wondered)"
_EN_PRON = {"he": "m", "she": "f", "i": "1", "they": None, "we": None}
_EN_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Messrs|Dr|St|Mt|Sr|Jr|Col|Capt|Gen|Lt|Prof|Rev|Hon|Gov|Sgt|vs|etc|No)"
    r"|\b[A-Z])$"
)
_EN_PREP = re.compile(
    r"\b(?:to|at|with|from|of|for|towards|toward|on|upon|by|about|after|into|like|than|beside|"
    r"behind|before|near|round|around|past|under|over|saw|see|sees|seeing|heard|hear|hears|"
    r"watched|watching|told|asked|answered|addressed|addressing|kissed|embraced|following|"
    r"followed|seeing|let|made|left|leaving|met|join|joined|joining|and|or|nor)\s+(?:the\s+)?$",
    re.I,
)
_EN_SUBORDINATE = re.compile(
    r"^\W*(?:When|As|After|Before|While|Whilst|Though|Although|If|Since|Until|Till|Once|Whereupon|"
    r"Seeing|Hearing|Having|On|Upon|At|In|With|For|To|During)\b[^,]*,\s*"
)
_SENT_END = re.compile(r"[.!?]+[”’\"')\]_]*\s+|[;]\s+|\n\s*\n")
_SCRIPT_EN = re.compile(r"(?m)^[ \t]*([A-Z][\w.’' -]{0,30}?)[ \t]*:[ \t]+(?=\S)")
_SCRIPT_ZH = re.compile(r"(?m)^[ \t\u3000]*([^\s：:，。！？“”「」]{1,8})[ \t]*[：:][ \t]*(?=\S)")


@dataclass
class Attribution:
    quote: Quote
    form: str | None  # the surface form that names the speaker (alias or name)
    cue: str | None
    rule: str | None  # pre / post / script / paragraph / beat / alternation / addressed / ...
    gender: str | None = None  # of a pronoun tag: "m" (he/他), "f" (she/她), "1" (I/我)
    conf: float = 0.0
    other: bool = False  # tagged by someone who is no known character ("said a voice")
    anchor: int | None = None  # start of a pronoun tag's clause: names after it are objects


def attribute_dialogue(
    chapter: Chapter, characters: CharacterList, language: str, threshold: float | None = None
) -> list[DialogueLine]:
    """Every quotation of the chapter with its speaker (canonical name) or None (also when the
    best answer's confidence is below `threshold`, default THRESHOLD)."""
    threshold = THRESHOLD if threshold is None else threshold
    matcher = matcher_for(characters.characters, language)
    work = analysis_text(chapter.text, language)  # same length; quotes come from chapter.text
    genders = character_genders(work, characters, language)
    out: list[DialogueLine] = []
    for a in attribute_quotes(work, matcher, language, genders):
        q = a.quote
        keep = a.form is not None and a.conf >= threshold
        speaker = matcher.canonical(a.form) if keep and a.form else None
        tag = a.rule in ("pre", "post", "script")
        cue = a.cue if tag else (a.rule if speaker else None)
        out.append(
            DialogueLine(
                chapter_index=chapter.index,
                start=q.start,
                end=q.end,
                quote=chapter.text[q.inner_start : q.inner_end],
                speaker=speaker,
                cue=cue,
                rule=("tag" if tag else a.rule) if speaker else None,
                confidence=round(a.conf if speaker else 0.0, 3),
            )
        )
    return out


def character_genders(text: str, characters: CharacterList, language: str) -> dict[str, str]:
    """canonical -> "m"/"f": from an honorific (Mr./Mrs./Lady ...) of any form, else from the
    pronouns that follow the character's mentions in `text` (needs a clear majority)."""
    out: dict[str, str] = {}
    for c in characters.characters:
        for f in [c.name, *c.aliases]:
            g = honorific_gender(f)
            if g:
                out[c.name] = g
                break
    votes = pronoun_votes(text, matcher_for(characters.characters, language), language)
    for c in characters.characters:
        if c.name in out:
            continue
        he = sum(votes.get(f, [0, 0])[0] for f in [c.name, *c.aliases])
        she = sum(votes.get(f, [0, 0])[1] for f in [c.name, *c.aliases])
        if he + she >= 3 and max(he, she) >= 0.7 * (he + she):
            out[c.name] = "m" if he > she else "f"
        elif language == "zh" and she <= he and _zh_feminine(c.name) and he < 3:
            out[c.name] = "f"
        elif language == "zh" and she == 0 and 2 <= len(c.name) <= 3 and not _zh_feminine(c.name):
            out[c.name] = "m"  # no sign of a woman: in Chinese fiction a plain name is a man's
    return out


# characters that end most women's given names (晓霞, 丽丽, 兰香, 秀莲, 红梅, 润叶, 玉英) and
# rarely men's: a weak cue, used only when the text's own pronouns do not decide
_ZH_FEMININE_END = set("霞丽香莲花梅娟芳玲凤燕萍珍琴娥婷媛娜莉蓉菊英叶秀姑妹嫂")


def _zh_feminine(name: str) -> bool:
    return 2 <= len(name) <= 3 and name[-1] in _ZH_FEMININE_END


def attribute_quotes(
    text: str, matcher: NameMatcher, language: str, genders: dict[str, str] | None = None
) -> list[Attribution]:
    """Attribution on surface forms; also used by SKILL_05 to learn aliases from dialogue.
    `genders` (canonical -> "m"/"f") lets he/she tags pick a speaker of that gender."""
    zh = language == "zh"
    qs = [q for q in quotes(text, language) if q.inner_end > q.inner_start]
    script = _script_lines(text, matcher, zh)
    qs = sorted([*script, *qs], key=lambda q: q.start)
    para_of = _paragraph_index(text, qs)
    result: list[Attribution | None] = []
    for q in qs:
        if q in script:
            f = script[q]
            result.append(Attribution(q, f, ":", "script", conf=0.95 if f else 0.0, other=not f))
        else:
            result.append(_explicit_zh(text, q, matcher) if zh else _explicit_en(text, q, matcher))
    _drop_scare_quotes(text, result, zh)
    res = [a for a in result if a is not None]
    _fill_implicit(res, para_of, text, matcher, zh, genders or {})
    return res


def _script_lines(text: str, matcher: NameMatcher, zh: bool) -> dict[Quote, str | None]:
    """`Name：line` play-script lines whose Name is a known character (or reads as one in a run
    of such lines): the rest of the line is the quote."""
    pat = _SCRIPT_ZH if zh else _SCRIPT_EN
    found = []
    for m in pat.finditer(text):
        name = m.group(1).strip()
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        body = text[m.end() : line_end].rstrip()
        if not body or body[0] in '“"「':
            continue  # 他说：“…” — a quote with its own marks is handled as a quote
        form = _known_form(matcher, name)
        if form is None and not zh and name.isupper():
            form = _known_form(matcher, name.title())
        if form is None and not zh:
            continue
        found.append((m, name, form, m.end(), m.end() + len(body)))
    # unknown names count when the text has a run of at least 3 such lines
    out: dict[Quote, str] = {}
    if not found:
        return out
    unknown_ok = len(found) >= 3
    for _m, name, form, a, b in found:
        if form is None and not unknown_ok:
            continue
        if form is None and (zh and len(name) > 5 or not zh and len(name.split()) > 3):
            continue
        out[Quote(a, b, a, b)] = form
    return out


def _known_form(matcher: NameMatcher, name: str) -> str | None:
    m = next(matcher.finditer(name), None)
    if m is not None and m.start() == 0 and m.end() == len(name):
        return matcher.form(m)
    return None


def _paragraph_index(text: str, qs: list[Quote]) -> dict[int, tuple[int, int, int]]:
    """quote start -> (paragraph number, paragraph start, paragraph end)."""
    spans = paragraphs(text)
    out: dict[int, tuple[int, int, int]] = {}
    k = 0
    for q in qs:
        while k < len(spans) - 1 and spans[k][1] <= q.start:
            k += 1
        out[q.start] = (k, spans[k][0], spans[k][1]) if spans else (0, 0, len(text))
    return out


# --- explicit tags: zh --------------------------------------------------------------------


def _zh_object_or_possessor(text: str, lo: int, start: int, end: int) -> bool:
    """对俊武说 / 握住了胡永合的手 (an object), 俊武的媳妇 (a possessor): not the subject."""
    before = text[max(lo, start - 3) : start]
    if before and (before[-1] in _ZH_OBJ_BEFORE or before.endswith("住了")):
        return True
    return text[end : end + 1] == "的" and text[end : end + 2] != "的话"


def _zh_subject(text: str, a: int, b: int, matcher: NameMatcher):
    """The subject among the names/pronouns of text[a:b] (the clause before a speech verb):
    the name right before the verb (八戒笑道, 行者大喜道), else the first name or pronoun
    that no object marker or verb precedes (他握住了胡永合的手，说 -> 他)."""
    sub = re.match(r"[^。！？]{0,30}?(?:时|后|以后|之后)[，,]", text[a:b])  # 当……时/后，
    if sub and text[a] in "当在等":
        a += sub.end()
    names = list(matcher.finditer(text, a, b))
    if names:
        last = names[-1]
        tail = text[last.end() : b]
        subj_pron = re.search(r"(?:他|她|我)(?![们的])", tail)
        if (
            re.fullmatch(r"[^，,；;、]{0,6}", tail)
            and not subj_pron
            and not _zh_object_or_possessor(text, a, last.start(), last.end())
        ):
            return "name", last
    cands = [(m.start(), "name", m) for m in names]
    cands += [(m.start() + a, "pron", m) for m in _ZH_PRONOUN.finditer(text[a:b])]
    cands.sort(key=lambda t: t[0])
    for pos, kind, m in cands:
        end = m.end() if kind == "name" else m.end() + a
        if _zh_object_or_possessor(text, a, pos, end):
            continue
        if kind == "pron" and any(n.start() <= pos < n.end() for n in names):
            continue
        return kind, m
    return None, None


def _explicit_zh(text: str, q: Quote, matcher: NameMatcher) -> Attribution:
    # before the quote: back to the previous sentence end, at most 60 chars
    a = q.start
    lo = max(0, q.start - 60)
    while a > lo and text[a - 1] not in _ZH_STOP:
        a -= 1
    pre = text[a : q.start]
    if not pre.strip() and a > 0 and text[a - 1] == "\n":
        # a colon ending the previous paragraph introduces this one
        b = a - 1
        while b > 0 and text[b - 1].isspace():
            b -= 1
        if b > 0 and text[b - 1] in "：:":
            a2 = b - 1
            lo2 = max(0, a2 - 60)
            while a2 > lo2 and text[a2 - 1] not in _ZH_STOP:
                a2 -= 1
            pre, a = text[a2:b], a2
    m = _ZH_TAG_END.search(pre)
    if m and not _ZH_THOUGHT.search(pre):
        kind, s = _zh_subject(text, a, a + m.start(), matcher)
        if kind == "name":
            return Attribution(q, matcher.form(s), m.group(1), "pre", conf=0.9)
        if kind == "pron":
            p = s.group(1)
            return Attribution(q, None, m.group(1), "pronoun", _GENDER.get(p), anchor=a)
    post = text[q.end : q.end + 40].split("\n")[0]
    pm = re.match(rf"(他|她|伊|我)[^，。！？“”]{{0,4}}?({_ZH_VERB})", post)
    if pm and not re.match(r"[^，。！？“”]{0,6}想", post) and not _introduces(post, pm.end()):
        return Attribution(q, None, pm.group(2), "pronoun", _GENDER.get(pm.group(1)))
    for n in matcher.finditer(text, q.end, q.end + len(post)):
        if n.start() != q.end:
            break
        rest = text[n.end() : q.end + len(post)]
        if re.match(r"[^，。！？“”]{0,4}?(?:想|思忖|寻思)", rest):
            break
        if re.match(r"[^，。！？“”]{0,4}?[没不未别][^，。！？“”]{0,2}(?:说|道|问|吭)", rest):
            break  # 还是没说话: no tag
        # 八戒笑道 / 阿Q一把抓住了笔，惶恐而且惭愧的说。(the verb closes the sentence)
        v = re.match(rf"[^，。！？“”]{{0,4}}?({_ZH_VERB})", rest) or re.match(
            rf"[^。！？“”]{{0,30}}?({_ZH_VERB})[了着]?[。，！]", rest
        )
        if v and not _introduces(rest, v.end()):
            return Attribution(q, matcher.form(n), v.group(1), "post", conf=0.9)
    beat = _zh_post_beat(text, q, post, matcher)
    if beat:
        return Attribution(q, beat, None, "beat", conf=0.55)
    return Attribution(q, None, None, None)


def _zh_post_beat(text: str, q: Quote, post: str, matcher: NameMatcher) -> str | None:
    """The narration right after the quote, on its line, is about the speaker more often than
    not (“…”金俊武的脸色仍然不好看。/ “…”懂事的秀莲劝丈夫。): its subject, when it opens the
    sentence (after at most a short modifier ending in 的) and is one person (not 俊武夫妻)."""
    m = re.match(r"(?:[^，。！？“”：:]{0,6}的)?", post)
    n = next(matcher.finditer(text, q.end + m.end(), q.end + len(post)), None)
    if n is None or n.start() != q.end + m.end():
        return None
    after = text[n.end() : n.end() + 2]
    if after[:1] in ("们", "俩", "家") or after in ("夫妻", "夫妇", "一家", "两口"):
        return None
    rest = text[n.end() : q.end + len(post)]
    if re.search(r"[：:]\s*$", rest):
        return None  # “…”少平慌忙说：⏎ — it introduces the next quote
    if re.match(r"[^，。！？“”]{0,6}(?:想|思忖|寻思|听|问道?[他她]|对[他她])", rest):
        return None
    if re.match(
        r"[^，。！？“”]{0,4}?[没不未别][^，。！？“”]{0,2}(?:说|道|问|吭|回答|作声|言语)", rest
    ):
        return None  # “…”晓霞没说话: the one who stays silent is the listener
    return matcher.form(n)


def _introduces(s: str, verb_end: int) -> bool:
    """“…”少平慌忙说：⏎“…” — a tag ending in a colon introduces the next quote, not this one."""
    return re.match(r"[了着]?\s*[：:]", s[verb_end:]) is not None


# --- explicit tags: en --------------------------------------------------------------------

_EN_CACHE: dict[int, tuple] = {}
_GENDER = {"he": "m", "him": "m", "she": "f", "her": "f", "i": "1",
           "他": "m", "她": "f", "伊": "f", "我": "1"}  # fmt: skip


def _en_patterns(matcher: NameMatcher) -> tuple[re.Pattern, ...]:
    key = id(matcher)
    cached = _EN_CACHE.get(key)
    if cached is None or cached[0] is not matcher:
        forms = sorted(matcher.forms, key=lambda f: (-len(f), f))
        names = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in forms) or r"(?!x)x"
        nom = rf"(?:(?:the\s+)?(?P<n>{names})(?![\w’'-])|(?P<p>he|she|I|they|we)\b)"
        adv = r"(?i:\w+ly\s+|then\s+|again\s+|now\s+|only\s+|at\s+last\s+|at\s+length\s+)"
        say = rf"(?P<v>(?i:{_EN_SAY}|{_EN_THOUGHT}))"
        pats = (
            # after the quote: ” said Alice / ” said he / ” said a voice (names keep their case)
            re.compile(
                rf"^[\s,;:_—-]*{adv}?{say}(?:\s+\w+ly)?\s+(?:{nom}|(?P<o>(?i:the|a|an|his|her|"
                rf"their|my|one|another|some)\s+[\w-]+))",
            ),
            # ” Alice said / ” the Queen, who …, said / ” she answered
            re.compile(
                rf"^[\s,;:_—-]*{nom}(?:’s|'s)?(?:\s*,[^,“”\".!?]{{1,80}},)?\s+{adv}{{0,2}}"
                rf"(?:(?:had|has|was|would|could|did)\s+)?{say}\b",
            ),
        )
        cached = (matcher, names, *pats)
        _EN_CACHE.clear()  # keep one: a book's analysis reuses one matcher
        _EN_CACHE[key] = cached
    return cached[1:]


def _sentence_start(text: str, lo: int, hi: int) -> int:
    """Start of the sentence that contains offset `hi`, not before `lo`; "Mr." and "Mrs."
    (and other abbreviations or initials) never end a sentence."""
    start = lo
    for m in _SENT_END.finditer(text, lo, hi):
        head = text[max(lo, m.start() - 8) : m.start()]
        if text[m.start()] == "." and _EN_ABBREV.search(head):
            continue
        start = m.end()
    return start


def _explicit_en(text: str, q: Quote, matcher: NameMatcher) -> Attribution:
    names, post_verb_first, post_subject_first = _en_patterns(matcher)
    nxt = text.find("“", q.end, q.end + 200)
    nxt2 = text.find('"', q.end, q.end + 200)
    stop = min(x for x in (nxt, nxt2, q.end + 200) if x >= 0)
    post = text[q.end : stop]
    post = post[: post.find("\n\n")] if "\n\n" in post else post
    post = post.replace("\n", " ")
    for pat in (post_verb_first, post_subject_first):
        m = pat.match(post)
        if m:
            a = _en_nominal(q, m, matcher, "post")
            if a is not None:
                return a
    # before the quote: the sentence that leads into it, after any earlier quote
    lo = max(0, q.start - 300)
    prev_close = max(text.rfind("”", lo, q.start), text.rfind('"', lo, q.start))
    if prev_close >= 0:
        lo = prev_close + 1
    para = text.rfind("\n\n", lo, q.start)
    if para >= 0:
        lo = para + 2
    start = _sentence_start(text, lo, q.start)
    seg = text[start : q.start].replace("\n", " ")
    if prev_close >= 0 and prev_close + 1 == lo and start == lo:
        # a tag between two quotes (“…,” said he, “…”), unless a later verb in the same stretch
        # has its own subject (“…” she asked the Gryphon, and the Gryphon answered, “…”)
        m = post_verb_first.match(seg) or post_subject_first.match(seg)
        if m and not re.search(rf"\b{_EN_SAY}\b", seg[m.end() :], re.I):
            a = _en_nominal(q, m, matcher, "pre")
            if a is not None:
                return a
    if not seg.strip() and para >= 0:
        lead = _lead_in(text, para, q, matcher)
        if lead is not None:
            return lead
    a = _pre_tag_en(text, q, seg, start, matcher)
    if a.form is None and a.rule is None and not a.other:
        beat = _en_post_beat(text, q, post, matcher)
        if beat:
            return Attribution(q, beat, None, "beat", conf=0.55)
    return a


def _en_post_beat(text: str, q: Quote, post: str, matcher: NameMatcher) -> str | None:
    """“…” Elizabeth smiled. — narration opening right after the quote, in its paragraph, is
    about the speaker more often than not: its subject when a name starts it and a verb
    follows (not “Mr. Bennet made no answer”, which names the silent listener)."""
    m = re.match(r"[\s_—-]*(?:the\s+)?", post)
    n = next(matcher.finditer(text, q.end + m.end(), q.end + len(post)), None)
    if n is None or n.start() != q.end + m.end():
        return None
    rest = text[n.end() : q.end + len(post)]
    if not re.match(r"\s+(?:\w+ly\s+)?[a-z]+", rest) or re.match(r"(?:’s|'s)", rest):
        return None
    if re.match(r"\s+(?:\w+\s+){0,3}?(?:made\s+no|was\s+silent|said\s+nothing|did\s+not)", rest):
        return None
    if re.match(r"\s+(?:and|or|with|to|in|on)\b", rest):
        return None
    return matcher.form(n)


# the previous paragraph leads into the quote: “…answered most readily,” / “…began.” / “…thus:—”
# verbs that announce speech to come (“Mr. Collins began.” ⏎ “…”), not gestures (nodded)
_EN_LEAD_VERB = (
    r"(?:began|begun|continued|replied|answered|added|said|cried|exclaimed|observed|remarked|"
    r"returned|resumed|went\s+on|spoke|asked|enquired|inquired|proceeded)"
)
_EN_LEAD_END = re.compile(r"(?:,|:|;|--|—|,\s*--|:\s*--|,\s*—|:\s*—)\s*$")


def _lead_in(text: str, para: int, q: Quote, matcher: NameMatcher) -> Attribution | None:
    """A quote opening its paragraph, introduced by the previous paragraph's last sentence
    (“Mr. Bennet coolly observed,” ⏎ “…”): that sentence's tag decides."""
    end = para
    while end > 0 and text[end - 1].isspace():
        end -= 1
    tail = text[max(0, end - 300) : end]
    if not tail or tail[-1] in "”\"’'":
        return None
    dotted = re.search(
        rf"\b{_EN_LEAD_VERB}(?:\s+(?:thus|again|then|\w+ly))?\s*\.(?:--|—)?\s*$", tail, re.I
    )
    if not _EN_LEAD_END.search(tail) and not dotted:
        return None
    lo = max(0, end - 300)
    prev_close = max(text.rfind("”", lo, end), text.rfind('"', lo, end))
    if prev_close >= 0:
        lo = prev_close + 1
    blank = text.rfind("\n\n", lo, end)
    if blank >= 0:
        lo = blank + 2
    cut = (
        end - (len(tail) - dotted.start() - len(dotted.group().rstrip(" .-—\n"))) if dotted else end
    )
    start = _sentence_start(text, lo, cut)
    seg = text[start:cut].replace("\n", " ") + " "
    a = _pre_tag_en(text, q, seg, start, matcher)
    if a.form is None and a.rule != "pronoun" and not a.other:
        return None
    if a.form:
        a.conf = min(a.conf, 0.85)
    a.anchor = start if a.rule == "pronoun" else a.anchor
    return a


def _en_nominal(q: Quote, m: re.Match, matcher: NameMatcher, rule: str) -> Attribution | None:
    verb = m.group("v")
    thought = re.fullmatch(_EN_THOUGHT, verb.split()[0], re.I) is not None
    conf = 0.8 if thought else 0.95
    if m.group("n"):
        return Attribution(q, matcher.form_of(m.group("n")), verb, rule, conf=conf)
    if m.group("p"):
        p = m.group("p").lower()
        if p in ("they", "we"):
            return Attribution(q, None, verb, "group", other=True)
        return Attribution(q, None, verb, "pronoun", _GENDER.get(p))
    if "o" in m.groupdict() and m.group("o"):
        kin = re.fullmatch(r"(?:his|her|their)\s+(\w+)", m.group("o"), re.I)
        g = _EN_KIN.get(kin.group(1).lower()) if kin else None
        if g:  # “…,” cried his wife: a relative of someone named nearby, like a pronoun
            return Attribution(q, None, verb, "pronoun", g)
        return Attribution(q, None, verb, "other", other=True)
    return None


_EN_KIN = {
    "wife": "f", "mother": "f", "sister": "f", "daughter": "f", "aunt": "f", "niece": "f",
    "lady": "f", "mistress": "f", "husband": "m", "father": "m", "brother": "m", "son": "m",
    "uncle": "m", "nephew": "m", "master": "m", "cousin": None, "friend": None,
}  # fmt: skip


_EN_HON_DOT = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|Col|Capt|Gen|Lt|Prof|Rev|Sr|Jr)\.")
_EN_TAIL = re.compile(r"^(?:[^.!?“”\"]{0,80}?)[\s,:;—_-]*$")


def _pre_tag_en(text: str, q: Quote, seg: str, start: int, matcher: NameMatcher) -> Attribution:
    """`Alice said,` / `Lydia, who, flying to her, cried,` / `and a Canary called out to its
    children,` before the quote: the subject of the last speech verb, whose tail up to the quote
    is a short adverbial (", in a low voice,")."""
    verbs = list(re.finditer(rf"\b(?P<v>{_EN_SAY})\b", seg, re.I))
    for v in reversed(verbs):
        tail = seg[v.end() :]
        plain = _EN_HON_DOT.sub(r"\1 ", tail)  # “said to Mrs. Bennet,”: no sentence end
        if not _EN_TAIL.match(plain) or re.search(r"\b(?:that|if|whether)\b", tail):
            continue
        head = seg[: v.start()]
        by = re.match(r"\s+by\s+(?:the\s+)?", tail)  # passive: “accosted by Miss Bingley,”
        if by:
            agent = next(matcher.finditer(tail, by.end()), None)
            if agent is not None and agent.start() == by.end():
                return Attribution(q, matcher.form(agent), v.group("v"), "pre", conf=0.9)
        if re.fullmatch(r"[\W_]*(?:(?:then|and|but|so|now|here|there)\s+)?", head, re.I):
            # inverted: “Then said the Hatter,” — the subject follows the verb
            inv = re.match(r"\s+(?:the\s+)?", tail)
            agent = next(matcher.finditer(tail, inv.end()), None) if inv else None
            if agent is not None and agent.start() == inv.end():
                return Attribution(q, matcher.form(agent), v.group("v"), "pre", conf=0.9)
        who = re.search(r"\bwho\b[^.!?;“”\"]{0,80}$", head)
        if who:
            names_before = [m for m in matcher.finditer(head[: who.start()]) if m.end() >= 0]
            between = head[names_before[-1].end() : who.start()] if names_before else ""
            if names_before and _EN_WHO_GAP.fullmatch(between):  # “met Maria in the hall, who”
                return Attribution(q, matcher.form(names_before[-1]), v.group("v"), "pre", conf=0.9)
            return Attribution(q, None, v.group("v"), "other", other=True)  # “a man, who said”
        sub = _EN_SUBORDINATE.match(head)
        h0 = sub.end() if sub and sub.end() < len(head) else 0
        a = _en_subject(q, head, h0, v.group("v"), matcher, start)
        if a.form is None and a.rule == "pronoun" and a.gender is None:
            # no subject in the clause (“Mr. Collins was gratified; and … replied,”): the
            # sentence's own subject, before any semicolon
            full = _full_sentence_start(text, start)
            if full < start:
                ext = text[full:start].replace("\n", " ") + head
                a2 = _en_subject(q, ext, 0, v.group("v"), matcher, full)
                if a2.form is not None:
                    a2.conf = min(a2.conf, 0.8)
                    return a2
        return a
    return Attribution(q, None, None, None)


_EN_WHO_GAP = re.compile(r"(?:\s+(?:in|at|on|by|near|from|with|of)\s+[^,;]{1,30})?[\s,]*")


def _full_sentence_start(text: str, start: int) -> int:
    """Where the sentence holding `start` begins when semicolons do not end sentences (not
    across a paragraph or a quotation)."""
    lo = max(0, start - 300)
    for mark in ("\n\n", "”", '"'):
        k = text.rfind(mark, lo, start)
        if k >= 0:
            lo = k + len(mark)
    s = lo
    for m in re.finditer(r"[.!?]+[’')\]_]*\s+", text[lo:start]):
        head = text[max(lo, lo + m.start() - 8) : lo + m.start()]
        if text[lo + m.start()] == "." and _EN_ABBREV.search(head):
            continue
        s = lo + m.end()
    return s


_EN_PRON_RE = re.compile(r"\b((?i:he|she|they|we)|I)\b")
_EN_PREP_ONLY = re.compile(
    r"\b(?:to|at|with|from|of|towards|toward|on|upon|by|about|after|into|like|than|beside|"
    r"behind|before|near|round|around|past|under|over)\s+(?:the\s+)?$",
    re.I,
)
_EN_APPOSITIVE = re.compile(
    r"(?:\s*,[^,;:“”\"]{1,80},|\s+\w+ing\b[^,;:“”\"]{0,40},)\s*(?:\w+ly\s+|then\s+|thus\s+)*"
)
# where a clause (and so a subject) starts: “, when Mr. Collins”, “; and Lydia”, “while the Dodo”
_EN_CLAUSE_START = re.compile(
    r"(?:^|[,;:]|\b(?:and|but|when|while|as|then|for|whereupon|till|until))\s*(?:the\s+)?$", re.I
)
_EN_ADJACENT = re.compile(
    r"\s*(?:(?:\w+ly|then|again|now|only|too|also|thus|had|has|was|would|could|did|"
    r"will|shall|might|must|to|not)\s+)*"
)
# a subject that is no known character right before the verb: “an old Crab took the
# opportunity of saying”, “the young Crab said”, “one old Magpie began”
_EN_OTHER_SUBJECT = re.compile(
    r"(?:^|[,;]\s*|\b(?:and|but|then|while|when)\s+)(?:(?:a|an|one|another|some|the)\s+)"
    r"(?:[a-z-]+\s+){0,2}[A-Za-z][a-z-]+\s+(?:\w+ly\s+)?(?:\w+\s+){0,5}$"
)


def _en_subject(
    q: Quote, head: str, h0: int, verb: str, matcher: NameMatcher, anchor: int | None = None
) -> Attribution:
    """The subject of the speech verb that ends `head`: a name right before it (with at most an
    appositive or participle between, “Lydia, always unguarded, exclaimed”), the subject of the
    clause a coordinated verb continues (“…when Miss Bingley came towards her, and thus accosted
    her”), else the first name or pronoun that is no object, prepositional phrase (to Jane, at
    Mr. Darcy) or possessor (Elizabeth's mother)."""
    cands = _en_candidates(head, h0, matcher)
    if not cands and h0:  # “At length Darcy spoke, and … said”: the opener held the subject
        cands = _en_candidates(head, 0, matcher)
        h0 = 0
    for a, b, kind, m in reversed(cands):
        if re.match(r"(?:’s|'s)\b", head[b : b + 3]) or _EN_PREP_ONLY.search(head[h0:a]):
            continue
        between = head[b:]
        if _EN_ADJACENT.fullmatch(between) or (
            _EN_APPOSITIVE.fullmatch(between) and _EN_CLAUSE_START.search(head[h0:a])
        ):
            if kind == "n":
                return Attribution(q, matcher.form(m), verb, "pre", conf=0.9)
            break
    if not cands and _EN_OTHER_SUBJECT.search(head[h0:]):
        return Attribution(q, None, verb, "other", other=True)  # “an old Crab took … saying”
    coord = _coord_start(head, h0)
    if coord is not None and not any(a >= coord for a, _b, _k, _m in cands):
        # “…, and [adverbial] said” / “…, saying”: the subject of the clause it continues
        subj = [
            c
            for c in cands
            if _EN_CLAUSE_START.search(head[h0 : c[0]])
            and not re.match(r"(?:’s|'s)\b", head[c[1] : c[1] + 3])
        ]
        if subj and subj[-1][2] == "n":
            return Attribution(q, matcher.form(subj[-1][3]), verb, "pre", conf=0.85)
    for a, b, kind, m in cands:
        before = head[max(h0, a - 30) : a]
        if _EN_PREP.search(before):
            continue
        if re.match(r"(?:’s|'s)\b", head[b : b + 3]):
            continue
        if kind == "n":
            return Attribution(q, matcher.form(m), verb, "pre", conf=0.9)
        p = m.group(1).lower()
        if p in ("they", "we"):
            return Attribution(q, None, verb, "group", other=True)
        return Attribution(q, None, verb, "pronoun", _GENDER.get(p), anchor=anchor)
    return Attribution(q, None, verb, "pronoun", None)


def _coord_start(head: str, h0: int) -> int | None:
    """Where the coordinated tail before a verb starts (“…, and thus ” / “…, ” of “, saying”)."""
    conj = list(re.finditer(r"(?:,\s*)?\b(?:and|but)\s+", head[h0:]))
    if conj and re.fullmatch(
        r"(?:[^,;]{0,50},\s*)?(?:[\w’'-]+\s+){0,8}", head[h0 + conj[-1].end() :]
    ):
        return h0 + conj[-1].start()
    comma = re.search(r",\s*$", head[h0:])
    return h0 + comma.start() if comma else None


def _en_candidates(head: str, h0: int, matcher: NameMatcher) -> list[tuple]:
    cands = [(m.start(), m.end(), "n", m) for m in matcher.finditer(head, h0)]
    spans = [(a, b) for a, b, _k, _m in cands]
    for m in _EN_PRON_RE.finditer(head, h0):
        if not any(a <= m.start() < b for a, b in spans):
            cands.append((m.start(), m.end(), "p", m))
    cands.sort(key=lambda t: t[0])
    return cands


# --- implicit speakers --------------------------------------------------------------------


def _drop_scare_quotes(text: str, result: list[Attribution | None], zh: bool) -> None:
    """Short quoted terms inside narration (“立言”, “ORANGE MARMALADE”) are not dialogue."""
    for i, a in enumerate(result):
        if a is None or a.rule is not None:
            continue
        q = a.quote
        inner = text[q.inner_start : q.inner_end]
        short = len(inner) <= 8 if zh else len(inner.split()) <= 3
        before = text[max(0, q.start - 3) : q.start].rstrip(" \t")
        introduced = before == "" or before[-1] in "：:，,\n" or q.start == 0
        ends_sentence = inner.rstrip()[-1:] in "。！？!?…,.—" if inner.strip() else False
        if short and not introduced and not ends_sentence:
            result[i] = None


@dataclass
class _Turn:
    para: int
    atts: list[Attribution]

    @property
    def head(self) -> Attribution:
        return self.atts[0]


def _fill_implicit(
    result: list[Attribution],
    para_of: dict,
    text: str,
    matcher: NameMatcher,
    zh: bool,
    genders: dict[str, str],
) -> None:
    canon = matcher.canonical
    para_spans = paragraphs(text)
    narrator = _narrator(result, text, matcher, zh)
    # first person: "I said" is the narrator
    for a in result:
        if a.rule == "pronoun" and a.gender == "1":
            if narrator:
                a.form, a.rule, a.conf = narrator, "narrator", 0.8
            else:
                a.other = True
    # turns: a dialogue paragraph (English, modern Chinese: one speaker per paragraph); a
    # paragraph where several people speak in turn (classical Chinese) is split at each tag
    turns: list[_Turn] = []
    for a in result:
        p = para_of[a.quote.start][0]
        if turns and turns[-1].para == p and not (zh and _new_speaker_zh(turns[-1], a, text)):
            turns[-1].atts.append(a)
        else:
            turns.append(_Turn(p, [a]))
    # one speaker per turn: its tags decide (a turn with conflicting tags keeps them apart)
    for t in turns:
        known = {canon(a.form) for a in t.atts if a.form and a.conf >= 0.9}
        if len(known) == 1:
            first = next(a for a in t.atts if a.form and a.conf >= 0.9)
            for a in t.atts:
                if not a.form and not a.other and _same_turn(a, first, t, canon, genders):
                    a.form, a.rule, a.conf = first.form, "paragraph", 0.9
    # pronoun tags: the nearest character of that gender named before
    for k, t in enumerate(turns):
        for a in t.atts:
            if a.rule == "pronoun" and not a.form:
                back = 6 if zh else 2  # a zh tag often stands alone on its line
                p_start = para_spans[max(0, t.para - back)][0] if para_spans else 0
                a.form = _resolve_pronoun(
                    a, turns[max(0, k - 8) : k], text, p_start, matcher, genders
                )
                if a.form:
                    a.conf = 0.6 if a.gender else 0.45
        known = {canon(a.form) for a in t.atts if a.form}
        if len(known) == 1:
            first = next(a for a in t.atts if a.form)
            for a in t.atts:
                if not a.form and not a.other and _same_turn(a, first, t, canon, genders):
                    a.form, a.rule, a.conf = first.form, "paragraph", first.conf * 0.95
    # a narration beat in the quote's own paragraph: "Elizabeth smiled. “…”"
    for t in turns:
        h = t.head
        if h.form or h.other:
            continue
        p_start = para_of[h.quote.start][1]
        who = _beat(text, p_start, h.quote.start, matcher, zh)
        if who:
            for a in t.atts:
                if not a.form and not a.other:
                    a.form, a.rule, a.conf = who, "beat", 0.65
    _conversations(turns, text, para_spans, matcher, zh)


def _same_turn(a: Attribution, known: Attribution, t: _Turn, canon, genders: dict) -> bool:
    """Whether the paragraph's known tag also covers `a`: a quote with a pronoun tag of the
    other gender has its own speaker, and a tag before a later quote (“…?” she asked the
    Gryphon, and the Gryphon answered, “…”) starts a new speaker, not covering what precedes."""
    if a.rule == "pronoun" and a.gender in ("m", "f"):
        g = genders.get(canon(known.form)) if known.form else None
        if g is not None and g != a.gender:
            return False
        if g is None and known.rule == "pre" and known.quote.start > a.quote.start:
            return False
    return True


def _new_speaker_zh(turn: _Turn, a: Attribution, text: str) -> bool:
    """Chinese paragraphs may hold a whole exchange: a new tag, or narration between two
    quotes, starts a new turn."""
    if a.rule in ("pre", "post", "pronoun", "script"):
        prev = turn.atts[-1]
        if not (prev.form and a.form and prev.form == a.form):
            return True
    gap = text[turn.atts[-1].quote.end : a.quote.start]
    return len(re.sub(r"\s", "", gap)) > 12


def _beat(text: str, p_start: int, q_start: int, matcher: NameMatcher, zh: bool) -> str | None:
    """The subject of the narration right before the quote in its paragraph."""
    seg = text[p_start:q_start]
    if not seg.strip() or len(seg) > 400:
        return None
    if zh:
        if _ZH_THOUGHT.search(seg):
            return None
        m = next(matcher.finditer(seg), None)
        if m and not (m.start() and seg[m.start() - 1] in _ZH_OBJ_BEFORE):
            names = {matcher.canonical(matcher.form(x)) for x in matcher.finditer(seg)}
            return matcher.form(m) if len(names) == 1 else None
        return None
    start = _sentence_start(seg, 0, len(seg))
    sent = seg[start:] if seg[start:].strip() else seg
    sub = _EN_SUBORDINATE.match(sent)
    h0 = sub.end() if sub and sub.end() < len(sent) else 0
    m = re.match(r"\W*(?:the\s+)?", sent[h0:])
    first = next(matcher.finditer(sent, h0 + (m.end() if m else 0)), None)
    if first is None or first.start() != h0 + (m.end() if m else 0):
        return None
    if re.match(r"(?:’s|'s)\b", sent[first.end() : first.end() + 3]):
        return None
    return matcher.form(first)


def _conversations(
    turns: list[_Turn], text: str, para_spans: list, matcher: NameMatcher, zh: bool
) -> None:
    """Runs of adjacent dialogue turns: fill unknown turns from the known ones by alternation,
    vocatives and the one addressed; a narration paragraph ends a run."""
    canon = matcher.canonical
    runs: list[list[int]] = []
    slots = list(turns)  # + non-verbal turns (narration beats) that join two runs
    for k, t in enumerate(turns):
        prev = slots[runs[-1][-1]] if runs else None
        gap = (
            _narration_gap(text, para_spans, prev.para + 1, matcher)
            if prev is not None and t.para == prev.para + 2
            else None
        )
        if prev is not None and t.para == prev.para + 1:
            runs[-1].append(k)
        elif prev is not None and zh and t.para == prev.para:
            runs[-1].append(k)
        elif gap is not None:
            if gap:  # “Mr. Darcy bowed.”: his turn, without words
                q0 = para_spans[prev.para + 1][0]
                beat = Attribution(Quote(q0, q0, q0, q0), gap, None, "nonverbal", conf=0.6)
                slots.append(_Turn(prev.para + 1, [beat]))
                runs[-1].append(len(slots) - 1)
            runs[-1].append(k)
        else:
            runs.append([k])
    turns = slots
    for run in runs:
        spk: list[str | None] = []
        conf: list[float] = []
        for k in run:
            h = turns[k].head
            who = next((a for a in turns[k].atts if a.form), None)
            spk.append(who.form if who else ("?other" if h.other else None))
            conf.append(who.conf if who else (0.9 if h.other else 0.0))
        # vocatives: the one addressed speaks next (and likely spoke just before)
        voc = [_vocative(text, turns[k].atts, matcher) for k in run]
        for i in range(len(run)):
            if spk[i] is not None:
                continue
            if i > 0 and voc[i - 1] and _differs(voc[i - 1], spk[i - 1], canon):
                spk[i], conf[i] = voc[i - 1], 0.75
                _set(turns[run[i]], voc[i - 1], "addressed", 0.75)
        known = [s for s in spk if s and s != "?other"]
        distinct = list(dict.fromkeys(canon(s) for s in known))
        forms = {canon(s): s for s in known}
        if len(distinct) == 1:
            partner = _partner(run, turns, voc, spk, text, para_spans, matcher, zh)
            if partner:
                distinct.append(canon(partner))
                forms[canon(partner)] = partner
                pconf = 0.6
            else:
                pconf = 0.0
        else:
            pconf = 0.75
        if len(distinct) == 2:
            a_, b_ = distinct
            other = {a_: b_, b_: a_}
            for i in range(len(run)):
                if spk[i] is not None:
                    continue
                best = None
                for j in range(len(run)):
                    s = spk[j]
                    if (
                        s is None
                        or s == "?other"
                        or turns[run[j]].head.rule
                        in (
                            "alternation",
                            "addressed",
                        )
                    ):
                        continue
                    d = abs(i - j)
                    c = canon(s)
                    guess = c if d % 2 == 0 else other[c]
                    score = min(conf[j], 0.9) * (0.93**d) * (1.0 if d % 2 == 0 else pconf / 0.75)
                    if best is None or score > best[1]:
                        best = (guess, score)
                if best and voc[i] and canon(voc[i]) == best[0]:
                    best = None  # a line does not address its own speaker
                if best and best[1] > 0:
                    _set(turns[run[i]], forms[best[0]], "alternation", round(best[1], 3))
        elif len(distinct) >= 3:
            # local alternation only: A, B, ? -> A (and backwards)
            for i in range(len(run)):
                if spk[i] is not None:
                    continue
                for j1, j2 in ((i - 1, i - 2), (i + 1, i + 2)):
                    if j2 < 0 or j2 >= len(run):
                        continue
                    s1, s2 = spk[j1], spk[j2]
                    if s1 and s2 and "?other" not in (s1, s2) and canon(s1) != canon(s2):
                        spk[i] = s2
                        _set(turns[run[i]], s2, "alternation", 0.5)
                        break


def _narration_gap(text: str, para_spans: list, p: int, matcher: NameMatcher) -> str | None:
    """A short narration paragraph between two dialogue paragraphs keeps the conversation
    going: "" when no name opens it (“This was invitation enough.”), the name when one does
    (a non-verbal turn); None when it is long or holds a quotation (the conversation ends)."""
    if p >= len(para_spans):
        return None
    a, b = para_spans[p]
    seg = text[a:b]
    if b - a > 200 or any(c in seg for c in '“”"「」'):
        return None
    m = re.match(r"[\s_]*(?:the\s+)?", seg)
    n = next(matcher.finditer(text, a + m.end(), b), None)
    if n is not None and n.start() == a + m.end():
        return matcher.form(n)
    return ""


def _differs(a: str | None, b: str | None, canon) -> bool:
    return a is not None and (b is None or b == "?other" or canon(a) != canon(b))


def _set(t: _Turn, form: str, rule: str, conf: float) -> None:
    for a in t.atts:
        if not a.form and not a.other:
            a.form, a.rule, a.conf = form, rule, conf


def _partner(run, turns, voc, spk, text, para_spans, matcher, zh) -> str | None:
    """The other party of a run with one known speaker A: someone A's side addresses by name,
    else the other character named in the narration just before the run."""
    canon = matcher.canonical
    known = canon(next(s for s in spk if s and s != "?other"))
    for v in voc:
        if v and canon(v) != known:
            return v
    p = turns[run[0]].para
    for back in (0, 1, 2):
        if p - back < 0 or not para_spans:
            break
        a, b = para_spans[p - back]
        if back == 0:
            b = turns[run[0]].head.quote.start
        names = [matcher.form(m) for m in matcher.finditer(text, a, b)]
        others = [f for f in reversed(names) if canon(f) != known]
        if others:
            return others[0]
    return None


_VOC_LEAD = r"[\s_]*(?:(?:oh|my\s+dear|dear|well|yes|no|ah)[,!]?\s+)?"


def _vocative(text: str, atts: list[Attribution], matcher: NameMatcher) -> str | None:
    """A name the turn addresses: at a quote's start before a comma, or at its end after a
    comma (“Jane, …” / “…, Mr. Darcy.”)."""
    for a in atts:
        q = a.quote
        for m in matcher.finditer(text, q.inner_start, q.inner_end):
            before = text[q.inner_start : m.start()]
            after = text[m.end() : q.inner_end]
            if (
                re.fullmatch(
                    r"[\s_]*(?:(?:oh|my\s+dear|dear|well|yes|no|ah)[,!]?\s+)?", before, re.I
                )
                and re.match(r"\s*[,，!！?？]", after)
            ) or (
                re.search(r"[,，]\s*(?:my\s+dear\s+|dear\s+)?$", before)
                and re.match(r"[\s_]*[.!?。！？,，—-]", after + ".")
            ):
                return matcher.form(m)
    return None


def _narrator(result: list[Attribution], text: str, matcher: NameMatcher, zh: bool) -> str | None:
    """In a first-person chapter, the narrator's name: the name addressed (vocative) in the
    turns right before and after the narrator's own tagged lines (“…,” I said)."""
    mine = [i for i, a in enumerate(result) if a.rule == "pronoun" and a.gender == "1"]
    if not mine:
        return None
    votes: Counter = Counter()
    for i in mine:
        for j in (i - 1, i + 1):
            if 0 <= j < len(result):
                v = _vocative(text, [result[j]], matcher)
                if v and (result[j].form is None or result[j].form != v):
                    votes[matcher.canonical(v)] += 1
    if not votes:
        return None
    name, n = votes.most_common(1)[0]
    if n >= 2 and n >= 0.6 * sum(votes.values()):
        return name
    return None


def _resolve_pronoun(
    a: Attribution, before: list, text: str, p_start: int, matcher: NameMatcher, genders: dict
) -> str | None:
    """he/she said: the nearest earlier speaker, or character named in the paragraph before the
    quote, of the pronoun's gender, preferring someone other than the one just answered."""
    canon = matcher.canonical
    last = None
    if before:
        f = next((x.form for x in before[-1].atts if x.form), None)
        last = canon(f) if f else None
    end = a.anchor if a.anchor is not None else a.quote.start
    zh = matcher.language == "zh"
    # zh: names in object or possessor position (交给了孙少安, 少安的妻子) come last
    # names inside earlier quotes are mostly addressees (“When is your ball, Lizzy?”)
    spans = [(x.quote.start, x.quote.end) for t in before for x in t.atts]
    mentions = [
        m
        for m in matcher.finditer(text, p_start, end)
        if not any(qa <= m.start() < qb for qa, qb in spans)
    ]
    subj = [
        m
        for m in mentions
        if not (zh and _zh_object_or_possessor(text, p_start, m.start(), m.end()))
    ]
    rest = [m for m in mentions if m not in subj]
    named = [matcher.form(m) for m in rest] + [matcher.form(m) for m in subj]
    # the speakers of the last turns first (a pronoun tag mostly names a participant of the
    # conversation), then the names of the narration before, nearest first
    recent = [x.form for t in reversed(before[-3:]) for x in t.atts[:1] if x.form]
    pool = (
        recent
        + list(reversed(named))
        + [x.form for t in reversed(before) for x in t.atts[:1] if x.form]
    )
    fits = [f for f in pool if a.gender is None or genders.get(canon(f)) in (a.gender, None)]
    strict = [f for f in fits if a.gender is None or genders.get(canon(f)) == a.gender]
    for group in (strict, fits):
        other = [f for f in group if canon(f) != last]
        if other:
            return other[0]
    return None
