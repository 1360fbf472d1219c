"""SKILL_08 dialogue attribution: find the quotations of a chapter and decide who speaks each.

Rules, most specific first:
- zh: a speech verb (道/说/问/笑道/叫道 ...) with a name before the quote (`行者道：“…”`), or right
  after it (`“…”八戒道`); a colon at the end of the previous paragraph carries over.
- en: `“…,” said Alice` / `“…,” the Queen said` / `Alice said, “…”` / `said the Hatter, “…”`.
- no tag or a pronoun tag (他道 / she said): English keeps one speaker per paragraph; in a run
  of dialogue paragraphs speakers alternate (A, B, A, B); a line answers the one who was just
  addressed by name (“…, Mr. Darcy.”); a pronoun goes to the nearest character of its gender
  named before (in this or the previous paragraph, or among the last speakers), preferring
  someone other than the speaker just answered.
Names and aliases map to the canonical character name. `cue` records which rule decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nf_assets.skills._textkit import (
    NameMatcher,
    Quote,
    analysis_text,
    honorific_gender,
    matcher_for,
    paragraphs,
    pronoun_votes,
    quotes,
)
from nf_assets.skills.contracts import Chapter, CharacterList, DialogueLine

SKILL_ID = "SKILL_08"
VERSION = "1.0.0"

# zh: the verbs of a speech tag (X道 / X笑道 / X说 ...). An explicit list, not "any char + 道",
# so that the name before the verb is never swallowed by the verb.
_ZH_VERB = (
    r"(?:冷笑道|大叫道|高叫道|厉声道|低声道|笑道|说道|问道|叫道|喝道|答道|骂道|叹道|哭道|喊道|"
    r"嚷道|应道|回道|告道|禀道|奏道|怒道|喜道|惊道|念道|吟道|骂|道|说|问|曰|叫|喝|嚷|喊|答|应|想)"
)
_ZH_TAG_END = re.compile(rf"({_ZH_VERB})[了着]?\s*[：:，,]?\s*$")
_ZH_PRONOUN = re.compile(r"(他|她|伊)(?!们)")
_ZH_STOP = "。！？!?；;”」\n"

_EN_SAY = (
    r"(?:said|says|say|cried|asked|replied|answered|exclaimed|shouted|whispered|muttered|"
    r"thought|added|continued|remarked|observed|returned|repeated|began|went\s+on|screamed|"
    r"shrieked|called|roared|sighed|sobbed|interrupted|pleaded|growled|inquired|enquired|"
    r"yelled|murmured|cried\s+out|persisted|resumed|retorted|urged|declared)"
)
_EN_PRONOUN = r"(?:he|she|they|I|it|we)"


@dataclass
class Attribution:
    quote: Quote
    form: str | None  # the surface form that names the speaker (alias or name)
    cue: str | None
    rule: str | None  # pre / post / paragraph / alternation / addressed / pronoun
    gender: str | None = None  # of a pronoun tag: "m" (he/他) or "f" (she/她)


def attribute_dialogue(
    chapter: Chapter, characters: CharacterList, language: str
) -> list[DialogueLine]:
    """Every quotation of the chapter with its speaker (canonical name) or None."""
    matcher = matcher_for(characters.characters, language)
    work = analysis_text(chapter.text, language)  # same length; quotes come from chapter.text
    genders = character_genders(work, characters, language)
    out: list[DialogueLine] = []
    for a in attribute_quotes(work, matcher, language, genders):
        q = a.quote
        speaker = matcher.canonical(a.form) if a.form else None
        cue = a.cue if a.rule in ("pre", "post") else (a.rule if speaker else None)
        out.append(
            DialogueLine(
                chapter_index=chapter.index,
                start=q.start,
                end=q.end,
                quote=chapter.text[q.inner_start : q.inner_end],
                speaker=speaker,
                cue=cue,
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
    return out


def attribute_quotes(
    text: str, matcher: NameMatcher, language: str, genders: dict[str, str] | None = None
) -> list[Attribution]:
    """Attribution on surface forms; also used by SKILL_05 to learn aliases from dialogue.
    `genders` (canonical -> "m"/"f") lets he/she tags pick a speaker of that gender."""
    zh = language == "zh"
    qs = [q for q in quotes(text, language) if q.inner_end > q.inner_start]
    para_of = _paragraph_index(text, qs)
    result: list[Attribution] = []
    for q in qs:
        a = _explicit_zh(text, q, matcher) if zh else _explicit_en(text, q, matcher)
        result.append(a)
    _drop_scare_quotes(text, result, zh)
    result = [a for a in result if a is not None]
    _fill_implicit(result, para_of, text, matcher, zh, genders or {})
    return result


def _paragraph_index(text: str, qs: list[Quote]) -> dict[int, tuple[int, int, int]]:
    """quote start -> (paragraph number, paragraph start, paragraph end)."""
    spans = paragraphs(text)
    out: dict[int, tuple[int, int, int]] = {}
    k = 0
    for q in qs:
        while k < len(spans) - 1 and spans[k][1] <= q.start:
            k += 1
        out[q.start] = (k, spans[k][0], spans[k][1])
    return out


# --- explicit tags ------------------------------------------------------------------------


def _explicit_zh(text: str, q: Quote, matcher: NameMatcher) -> Attribution:
    # before the quote: back to the previous sentence end, at most 40 chars
    a = q.start
    lo = max(0, q.start - 40)
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
            lo2 = max(0, a2 - 40)
            while a2 > lo2 and text[a2 - 1] not in _ZH_STOP:
                a2 -= 1
            pre, a = text[a2:b], a2
    m = _ZH_TAG_END.search(pre)
    if m:
        names = list(matcher.finditer(text, a, a + m.start()))
        if names:
            # the name right before the verb, else the sentence subject (first name)
            tail = text[names[-1].end() : a + m.start()]
            pick = names[-1] if re.fullmatch(r"[^，,；;]{0,6}", tail) else names[0]
            return Attribution(q, matcher.form(pick), m.group(1), "pre")
        pm = _ZH_PRONOUN.search(pre[: m.start()])
        if pm:
            return Attribution(q, None, m.group(1), "pronoun", _GENDER.get(pm.group(1)))
    post = text[q.end : q.end + 40].split("\n")[0]
    pm = re.match(rf"(他|她|伊)[^，。！？“”]{{0,4}}?({_ZH_VERB})", post)
    if pm:
        return Attribution(q, None, pm.group(2), "pronoun", _GENDER.get(pm.group(1)))
    for n in matcher.finditer(text, q.end, q.end + len(post)):
        if n.start() != q.end:
            break
        rest = text[n.end() : q.end + len(post)]
        # 八戒笑道 / 阿Q一把抓住了笔，惶恐而且惭愧的说。(the verb closes the sentence)
        v = re.match(rf"[^，。！？“”]{{0,4}}?({_ZH_VERB})", rest) or re.match(
            rf"[^。！？“”]{{0,30}}?({_ZH_VERB})[了着]?[。，！]", rest
        )
        if v:
            return Attribution(q, matcher.form(n), v.group(1), "post")
    return Attribution(q, None, None, None)


def _en_patterns(matcher: NameMatcher) -> tuple[re.Pattern, ...]:
    key = id(matcher)
    cached = _EN_CACHE.get(key)
    if cached is None or cached[0] is not matcher:
        forms = sorted(matcher.forms, key=lambda f: (-len(f), f))
        names = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in forms) or r"(?!x)x"
        nm = rf"(?:the\s+)?(?P<n1>{names})(?![\w-])"
        lead = r"^[\s,_—-]*"
        tail = r"\b(?:[^“”\".!?]{0,60}[,:;—-])?\s*$"  # up to the quote: ", to Jane:" etc.
        pron = rf"(?P<p1>{_EN_PRONOUN})"
        pats = (
            # after the quote
            re.compile(rf"{lead}(?P<v1>{_EN_SAY})\s+{nm}"),  # ” said Alice
            re.compile(rf"{lead}{nm}[’']?\s+(?:\w+ly\s+)?(?P<v1>{_EN_SAY})\b"),  # ” Alice said
            # before the quote
            re.compile(rf"{nm}\s+(?:\w+\s+){{0,3}}?(?P<v1>{_EN_SAY}){tail}"),  # Alice said, “
            re.compile(rf"(?P<v1>{_EN_SAY})\s+{nm}{tail}"),  # said the Hatter, “
            re.compile(rf"^\W*{nm}[^“”\".!?]{{0,50}}\b(?P<v1>{_EN_SAY}){tail}"),  # Alice, …, said
            # pronouns
            re.compile(
                rf"{lead}(?:{pron}\s+(?:\w+ly\s+)?(?P<v1>{_EN_SAY})|"
                rf"(?P<v2>{_EN_SAY})\s+(?P<p2>{_EN_PRONOUN}))\b"
            ),  # ” she said / said he
            re.compile(
                rf"(?:\b{pron}\s+(?:\w+\s+){{0,3}}?(?P<v1>{_EN_SAY})|"
                rf"(?P<v2>{_EN_SAY})\s+(?P<p2>{_EN_PRONOUN})){tail}"
            ),  # she said, “
            # …, and coldly said,-- “   (subject further back: resolved like a pronoun)
            re.compile(rf"\b(?P<v1>{_EN_SAY})(?:\s+to\s+[\w. ]{{1,30}}?)?\s*[,:;—-]*\s*$"),
        )
        cached = (matcher, *pats)
        _EN_CACHE.clear()  # keep one: a book's analysis reuses one matcher
        _EN_CACHE[key] = cached
    return cached[1:]


_EN_CACHE: dict[int, tuple] = {}
_GENDER = {"he": "m", "him": "m", "she": "f", "her": "f", "他": "m", "她": "f", "伊": "f"}


def _explicit_en(text: str, q: Quote, matcher: NameMatcher) -> Attribution:
    (post_say_name, post_name_say, pre_name_say, pre_say_name, pre_subject, post_pron, pre_pron,
     pre_bare) = _en_patterns(matcher)  # fmt: skip
    post = text[q.end : q.end + 80]
    post = post[: post.find("\n\n")] if "\n\n" in post else post
    post = post.replace("\n", " ")
    for pat in (post_say_name, post_name_say):
        m = pat.match(post)
        if m:
            return Attribution(q, matcher.form_of(m.group("n1")), m.group("v1"), "post")
    lo = max(0, q.start - 160)
    pre = text[lo : q.start].replace("\n", " ")
    cut = max(pre.rfind("”"), pre.rfind('"'), pre.rfind(". "), pre.rfind("! "), pre.rfind("? "))
    pre = pre[cut + 1 :] if cut >= 0 else pre
    for pat in (pre_name_say, pre_say_name, pre_subject):
        m = pat.search(pre)
        if m:
            return Attribution(q, matcher.form_of(m.group("n1")), m.group("v1"), "pre")
    for m in (post_pron.match(post), pre_pron.search(pre)):
        if m:
            p = (m.group("p1") or m.group("p2") or "").lower()
            return Attribution(q, None, m.group("v1") or m.group("v2"), "pronoun", _GENDER.get(p))
    m = pre_bare.search(pre)
    if m:
        return Attribution(q, None, m.group("v1"), "pronoun")
    return Attribution(q, None, None, None)


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


def _fill_implicit(
    result: list[Attribution],
    para_of: dict,
    text: str,
    matcher: NameMatcher,
    zh: bool,
    genders: dict[str, str],
) -> None:
    canon = matcher.canonical
    para_starts = [a for a, _b in paragraphs(text)]
    # English: one speaker per paragraph
    if not zh:
        by_para: dict[int, set[str]] = {}
        firsts: dict[int, str] = {}
        for a in result:
            if a.form:
                p = para_of[a.quote.start][0]
                by_para.setdefault(p, set()).add(canon(a.form))
                firsts.setdefault(p, a.form)
        for a in result:
            p = para_of[a.quote.start][0]
            if not a.form and len(by_para.get(p, ())) == 1:
                a.form, a.rule = firsts[p], "paragraph"
    # turns: English keeps a paragraph per speaker; Chinese paragraphs hold whole exchanges
    turns: list[tuple[int, Attribution]] = []
    seen: set[int] = set()
    for a in result:
        p = para_of[a.quote.start][0]
        if zh or p not in seen:
            turns.append((p, a))
        seen.add(p)
    for k, (p, a) in enumerate(turns):
        if a.form:
            continue
        p_start = para_of[a.quote.start][1]
        opens = text[p_start : a.quote.start].strip() == ""
        prev1 = turns[k - 1] if k >= 1 else None
        prev2 = turns[k - 2] if k >= 2 else None
        if (
            opens
            and a.rule != "pronoun"
            and prev1
            and prev2
            and prev1[0] == p - 1
            and prev2[0] == p - 2
            and prev1[1].form
            and prev2[1].form
            and canon(prev1[1].form) != canon(prev2[1].form)
        ):
            a.form, a.rule = prev2[1].form, "alternation"
        elif opens and a.rule != "pronoun" and prev1 and prev1[0] == p - 1 and prev1[1].form:
            # the answer to a line that addressed someone by name (“…, Mr. Darcy.”)
            addressed = _vocative(text, prev1[1].quote, matcher)
            if addressed and canon(addressed) != canon(prev1[1].form):
                a.form, a.rule = addressed, "addressed"
        elif a.rule == "pronoun":
            # look back into the previous paragraph too (narration that sets up the line)
            prev_start = para_starts[max(0, p - 1)] if para_starts else p_start
            a.form = _resolve_pronoun(
                a, turns[max(0, k - 8) : k], text, prev_start, matcher, genders
            )


def _vocative(text: str, q: Quote, matcher: NameMatcher) -> str | None:
    """A name the quote addresses: at its start before a comma, or at its end after a comma."""
    for m in matcher.finditer(text, q.inner_start, q.inner_end):
        before = text[q.inner_start : m.start()]
        after = text[m.end() : q.inner_end]
        if (before.strip(" _") == "" and re.match(r"\s*[,，!！]", after)) or (
            re.search(r"[,，]\s*(?:my\s+dear\s+|dear\s+)?$", before)
            and re.fullmatch(r"[\s_]*[.!?。！？,，—-]*[\s_]*", after)
        ):
            return matcher.form(m)
    return None


def _resolve_pronoun(
    a: Attribution, before: list, text: str, p_start: int, matcher: NameMatcher, genders: dict
) -> str | None:
    """he/she said: the nearest earlier speaker, or character named in the paragraph before the
    quote, of the pronoun's gender, preferring someone other than the one just answered."""
    canon = matcher.canonical
    last = canon(before[-1][1].form) if before and before[-1][1].form else None
    named = [matcher.form(m) for m in matcher.finditer(text, p_start, a.quote.start)]
    pool = list(reversed(named)) + [t[1].form for t in reversed(before) if t[1].form]
    fits = [f for f in pool if a.gender is None or genders.get(canon(f)) in (a.gender, None)]
    strict = [f for f in fits if a.gender is None or genders.get(canon(f)) == a.gender]
    for group in (strict, fits):
        other = [f for f in group if canon(f) != last]
        if other:
            return other[0]
    return None
