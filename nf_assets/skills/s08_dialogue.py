"""SKILL_08 dialogue attribution: find the quotations of a chapter and decide who speaks each.

Rules, most specific first:
- zh: a speech verb (道/说/问/笑道/叫道 ...) with a name before the quote (`行者道：“…”`), or right
  after it (`“…”八戒道`); a colon at the end of the previous paragraph carries over.
- en: `“…,” said Alice` / `“…,” the Queen said` / `Alice said, “…”` / `said the Hatter, “…”`.
- a pronoun tag (他道 / she said) or no tag: English keeps one speaker per paragraph; in a run of
  dialogue paragraphs speakers alternate (A, B, A, B); a pronoun falls back to the last named
  speaker who is not the one just answered.
Names and aliases map to the canonical character name. `cue` records which rule decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nf_assets.skills._textkit import NameMatcher, Quote, matcher_for, paragraphs, quotes
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
_ZH_PRONOUN = re.compile(r"(他|她|它|我|你)(?:们)?[^，。！？“”]{0,4}$")
_ZH_STOP = "。！？!?”」\n"

_EN_SAY = (
    r"(?:said|says|say|cried|asked|replied|answered|exclaimed|shouted|whispered|muttered|"
    r"thought|added|continued|remarked|observed|returned|repeated|began|went\s+on|screamed|"
    r"shrieked|called|roared|sighed|sobbed|interrupted|pleaded|growled|inquired|enquired|"
    r"yelled|murmured|answered|cried\s+out|persisted|resumed|retorted|urged|declared)"
)
_EN_PRONOUN = r"(?:he|she|they|I|it|we)"


@dataclass
class Attribution:
    quote: Quote
    form: str | None  # the surface form that names the speaker (alias or name)
    cue: str | None
    rule: str | None  # pre / post / paragraph / alternation / pronoun


def attribute_dialogue(
    chapter: Chapter, characters: CharacterList, language: str
) -> list[DialogueLine]:
    """Every quotation of the chapter with its speaker (canonical name) or None."""
    matcher = matcher_for(characters.characters, language)
    out: list[DialogueLine] = []
    for a in attribute_quotes(chapter.text, matcher, language):
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


def attribute_quotes(text: str, matcher: NameMatcher, language: str) -> list[Attribution]:
    """Attribution on surface forms; also used by SKILL_05 to learn aliases from dialogue."""
    zh = language == "zh"
    qs = [q for q in quotes(text, language) if q.inner_end > q.inner_start]
    para_of = _paragraph_index(text, qs)
    result: list[Attribution] = []
    for q in qs:
        a = _explicit_zh(text, q, matcher) if zh else _explicit_en(text, q, matcher)
        result.append(a)
    _drop_scare_quotes(text, result, zh)
    result = [a for a in result if a is not None]
    _fill_implicit(result, para_of, text, matcher, zh)
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
        if _ZH_PRONOUN.search(pre[: m.start()]):
            return Attribution(q, None, m.group(1), "pronoun")
    post = text[q.end : q.end + 16]
    for n in matcher.finditer(text, q.end, min(len(text), q.end + 16)):
        if n.start() != q.end:
            break
        rest = text[n.end() : q.end + len(post)]
        v = re.match(rf"[^，。！？“”]{{0,4}}?({_ZH_VERB})", rest)
        if v:
            return Attribution(q, matcher.form(n), v.group(1), "post")
    return Attribution(q, None, None, None)


def _en_patterns(matcher: NameMatcher) -> tuple[re.Pattern, ...]:
    key = id(matcher)
    cached = _EN_CACHE.get(key)
    if cached is None or cached[0] is not matcher:
        forms = sorted(matcher.forms, key=lambda f: (-len(f), f))
        names = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in forms) or r"(?!x)x"

        def nm(g: str) -> str:
            return rf"(?:the\s+)?(?P<{g}>{names})(?![\w-])"

        lead = r"^[\s,_—-]*"
        pats = (
            re.compile(rf"{lead}(?P<v1>{_EN_SAY})\s+{nm('n1')}"),  # ” said Alice
            re.compile(rf"{lead}{nm('n1')}[’']?\s+(?:\w+ly\s+)?(?P<v1>{_EN_SAY})\b"),  # ” Alice said
            re.compile(  # Alice said, “  /  Alice turned to him and said: “
                rf"{nm('n1')}\s+(?:\w+\s+){{0,3}}?(?P<v1>{_EN_SAY})\b[^“”\".!?]{{0,60}}[,:]\s*$"
            ),
            re.compile(rf"(?P<v1>{_EN_SAY})\s+{nm('n1')}\b[^“”\".!?]{{0,60}}[,:]\s*$"),
            re.compile(  # ” she said
                rf"{lead}(?:{_EN_PRONOUN}\s+(?:\w+ly\s+)?(?P<v1>{_EN_SAY})|"
                rf"(?P<v2>{_EN_SAY})\s+{_EN_PRONOUN})\b"
            ),
            re.compile(  # she said, “
                rf"\b{_EN_PRONOUN}\s+(?:\w+\s+){{0,3}}?(?P<v1>{_EN_SAY})\b[^“”\".!?]{{0,60}}[,:]\s*$"
            ),
        )
        _EN_CACHE.clear()
        _EN_CACHE[key] = (matcher, *pats)
        cached = _EN_CACHE[key]
    return cached[1:]


_EN_CACHE: dict[int, tuple] = {}


def _explicit_en(text: str, q: Quote, matcher: NameMatcher) -> Attribution:
    post_say_name, post_name_say, pre_name_say, pre_say_name, post_pron, pre_pron = _en_patterns(
        matcher
    )
    post = text[q.end : q.end + 80].replace("\n", " ")
    for pat in (post_say_name, post_name_say):
        m = pat.match(post)
        if m:
            return Attribution(q, matcher.form_of(m.group("n1")), m.group("v1"), "post")
    lo = max(0, q.start - 120)
    pre = text[lo : q.start].replace("\n", " ")
    cut = max(pre.rfind("”"), pre.rfind('"'), pre.rfind(". "), pre.rfind("! "), pre.rfind("? "))
    pre = pre[cut + 1 :] if cut >= 0 else pre
    for pat in (pre_name_say, pre_say_name):
        m = pat.search(pre)
        if m:
            return Attribution(q, matcher.form_of(m.group("n1")), m.group("v1"), "pre")
    m = post_pron.match(post)
    if m:
        return Attribution(q, None, m.group("v1") or m.group("v2"), "pronoun")
    m = pre_pron.search(pre)
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
    result: list[Attribution], para_of: dict, text: str, matcher: NameMatcher, zh: bool
) -> None:
    # English: one speaker per paragraph
    if not zh:
        by_para: dict[int, set[str]] = {}
        for a in result:
            if a.form:
                by_para.setdefault(para_of[a.quote.start][0], set()).add(matcher.canonical(a.form))
        firsts: dict[int, str] = {}
        for a in result:
            p = para_of[a.quote.start][0]
            if a.form and p not in firsts:
                firsts[p] = a.form
        for a in result:
            p = para_of[a.quote.start][0]
            if not a.form and len(by_para.get(p, ())) == 1:
                a.form, a.rule = firsts[p], "paragraph"
    # dialogue runs: a quote that opens its paragraph, answered by the previous paragraph's quote
    turns: list[tuple[int, Attribution]] = []  # (paragraph, first quote of the paragraph)
    seen: set[int] = set()
    for a in result:
        p, p_start, _ = para_of[a.quote.start]
        if p in seen:
            continue
        seen.add(p)
        turns.append((p, a))
    for k, (p, a) in enumerate(turns):
        if a.form:
            continue
        opens = text[para_of[a.quote.start][1] : a.quote.start].strip() == ""
        prev1 = turns[k - 1] if k >= 1 else None
        prev2 = turns[k - 2] if k >= 2 else None
        if (
            opens
            and prev1
            and prev2
            and prev1[0] == p - 1
            and prev2[0] == p - 2
            and prev1[1].form
            and prev2[1].form
            and matcher.canonical(prev1[1].form) != matcher.canonical(prev2[1].form)
        ):
            a.form, a.rule = prev2[1].form, "alternation"
        elif a.rule == "pronoun":
            last = matcher.canonical(prev1[1].form) if prev1 and prev1[1].form else None
            for j in range(k - 1, max(-1, k - 7), -1):
                f = turns[j][1].form
                if f and matcher.canonical(f) != last:
                    a.form = f
                    break
