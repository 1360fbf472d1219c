"""Text helpers shared by the understanding skills (SKILL_04..14): paragraphs, sentences, quotes,
jieba loading and a longest-match name matcher. Pure functions, no I/O besides jieba's dictionary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from shared.text import CJK, CJK_RE  # noqa: F401 (the skills use tk.CJK)

# A paragraph ends at a blank line, or where the next line is indented (Chinese books often
# mark paragraphs by indentation only, one paragraph per line).
_PARA_BREAK = re.compile(r"\n[ \t\u3000]*\n\s*|\n(?=[ \t\u3000]+\S)")


def paragraphs(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the non-blank paragraphs of `text`, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _PARA_BREAK.finditer(text):
        _add_trimmed(text, pos, m.start(), spans)
        pos = m.end()
    _add_trimmed(text, pos, len(text), spans)
    # A line-per-paragraph book (no blank lines, no indentation) would come back as one block.
    if len(spans) == 1 and text.count("\n") > 2 and is_zh(text):
        spans = []
        pos = 0
        for m in re.finditer(r"\n", text):
            _add_trimmed(text, pos, m.start(), spans)
            pos = m.end()
        _add_trimmed(text, pos, len(text), spans)
    return spans


def _add_trimmed(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append((start, end))


_ILLUSTRATION = re.compile(r"\[Illustration(?:[^\[\]]|\[[^\[\]]*\])*\]")


def analysis_text(text: str, language: str) -> str:
    """A same-length copy for analysis: English loses Gutenberg italics marks (_very_) and
    [Illustration ...] blocks (captions, credits); offsets stay valid in the original."""
    if language == "zh":
        return text
    # an italic mark opening a line must not read as an indented (new) paragraph
    text = re.sub(r"(?<=\n)_", "\u2060", text).replace("_", " ")
    return _ILLUSTRATION.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def is_zh(text: str) -> bool:
    sample = text[:5000]
    return len(CJK_RE.findall(sample)) > 0.2 * max(1, len(sample.strip()))


_ZH_SENT_END = re.compile(r"[。！？!?…]+[”」』’\"]*|\n+")
_EN_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Mt|Sr|Jr|Col|Capt|Gen|Lt|Prof|Rev|vs|etc|No)|\b[A-Z])\.$"
)
_EN_SENT_END = re.compile(r"[.!?]+[”’\"')\]_]*(?=\s+[“‘\"'(_]*[A-Z0-9])|\n\s*\n")


def sentences(text: str, language: str) -> list[tuple[int, int]]:
    """[start, end) spans of sentences; closing quotes stay with their sentence."""
    spans: list[tuple[int, int]] = []
    pos = 0
    pattern = _ZH_SENT_END if language == "zh" else _EN_SENT_END
    for m in pattern.finditer(text):
        if language != "zh" and _EN_ABBREV.search(text[max(pos, m.start() - 6) : m.start() + 1]):
            continue
        _add_trimmed(text, pos, m.end(), spans)
        pos = m.end()
    _add_trimmed(text, pos, len(text), spans)
    return spans


# --- quotes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    start: int  # offset of the opening mark
    end: int  # offset just past the closing mark (or the paragraph end when unclosed)
    inner_start: int
    inner_end: int


_PAIRS = {"“": "”", "「": "」", "『": "』", "‘": "’"}


def quotes(text: str, language: str) -> list[Quote]:
    """Top-level quotations, nested marks kept inside. A quote never crosses a paragraph: an
    unclosed one (multi-paragraph speeches) ends with its paragraph."""
    out: list[Quote] = []
    use_single = language == "zh" or ("“" not in text and '"' not in text and "「" not in text)
    for p_start, p_end in paragraphs(text):
        i = p_start
        while i < p_end:
            ch = text[i]
            close = None
            if ch in ("“", "「", "『"):
                close = _PAIRS[ch]
            elif ch == '"':
                close = '"'
            elif ch == "‘" and use_single and (i == p_start or not text[i - 1].isalnum()):
                close = "’"
            if close is None:
                i += 1
                continue
            j = _find_close(text, i + 1, p_end, ch, close, language)
            if j is None:
                out.append(Quote(i, p_end, i + 1, p_end))
                break
            out.append(Quote(i, j + 1, i + 1, j))
            i = j + 1
    return out


def _find_close(text: str, i: int, end: int, opener: str, close: str, language: str) -> int | None:
    depth = 0
    while i < end:
        ch = text[i]
        if ch == close and (close != "’" or language == "zh" or not _is_apostrophe(text, i, end)):
            if depth == 0:
                return i
            depth -= 1
        elif ch == opener and opener != close:
            depth += 1
        i += 1
    return None


def _is_apostrophe(text: str, i: int, end: int) -> bool:
    # don’t, the Queen’s: a letter on both sides is an apostrophe, not a closing quote
    return i + 1 < end and text[i + 1].isalpha() and text[i - 1].isalpha()


# --- jieba --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def jieba_ready() -> object:
    """Import and initialise jieba once, with its chatty logger silenced."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def cut(text: str, cached: bool = False) -> tuple[str, ...]:
    """jieba's segmentation (HMM on); the tokens cover the text exactly, in order. `cached` for
    chapter texts that several skills segment (SKILL_07/12/14), not for whole books."""
    if cached:
        return _cut(text)
    jieba = jieba_ready()
    return tuple(jieba.cut(text))  # type: ignore[attr-defined]


@lru_cache(maxsize=32)
def _cut(text: str) -> tuple[str, ...]:
    jieba = jieba_ready()
    return tuple(jieba.cut(text))  # type: ignore[attr-defined]


def word_tags() -> dict[str, str]:
    """jieba's dictionary part-of-speech table (word -> tag) without running its slow HMM tagger."""
    jieba_ready()
    import jieba.posseg as pseg

    return pseg.dt.word_tag_tab


def posseg(text: str) -> list[tuple[str, str]]:
    jieba_ready()
    import jieba.posseg as pseg

    return [(p.word, p.flag) for p in pseg.cut(text)]


# --- names --------------------------------------------------------------------------------


class NameMatcher:
    """Finds mentions of surface forms (names and aliases) with longest-match semantics, so that
    孙悟空 is one mention of 孙悟空 and not also one of 悟空. English forms match across a line
    wrap ("Mock\nTurtle") and in the possessive ("the Queen’s")."""

    def __init__(self, forms: dict[str, str], language: str) -> None:
        self.forms = {_norm(f): c for f, c in forms.items() if f.strip()}
        self.language = language
        ordered = sorted(self.forms, key=lambda f: (-len(f), f))
        if language == "zh":
            alts = "|".join(re.escape(f) for f in ordered)
            self._re = re.compile(f"(?:{alts})") if alts else None
        else:
            alts = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in ordered)
            self._re = re.compile(rf"(?<![\w’'-])(?:{alts})(?![\w-])") if alts else None

    def finditer(self, text: str, start: int = 0, end: int | None = None) -> Iterator[re.Match]:
        if self._re is None:
            return iter(())
        return self._re.finditer(text, start, len(text) if end is None else end)

    def form(self, m: re.Match) -> str:
        """The registered surface form a match stands for."""
        return _norm(m.group()) if self.language != "zh" else m.group()

    def form_of(self, surface: str) -> str:
        return _norm(surface) if self.language != "zh" else surface

    def canonical(self, form: str) -> str:
        return self.forms[_norm(form)]

    def mentions(self, text: str, start: int = 0, end: int | None = None) -> list[str]:
        """Canonical names mentioned in text[start:end], in order of appearance, repeated."""
        return [self.forms[self.form(m)] for m in self.finditer(text, start, end)]


def _norm(form: str) -> str:
    return re.sub(r"\s+", " ", form.strip())


_HONORIFIC_GENDER = {
    "Mr": "m", "Master": "m", "Sir": "m", "Lord": "m", "Uncle": "m", "Father": "m", "Brother": "m",
    "Prince": "m", "Count": "m", "Baron": "m", "King": "m", "Duke": "m",
    "Mrs": "f", "Ms": "f", "Miss": "f", "Lady": "f", "Madam": "f", "Madame": "f", "Aunt": "f",
    "Sister": "f", "Princess": "f", "Countess": "f", "Baroness": "f", "Mistress": "f",
    "Queen": "f", "Duchess": "f",
}  # fmt: skip
_ZH_GENDER_SUFFIX = {
    "m": ("爷", "公", "王", "哥", "叔", "伯", "郎", "翁", "父", "兄", "弟", "僧", "生", "汉"),
    "f": ("妈", "嫂", "婶", "姐", "妹", "娘", "婆", "母", "妻", "女", "姑", "奶", "妃", "后", "姬"),
}


_ZH_FEMALE_TITLES = ("公主", "夫人", "小姐", "娘娘", "女王", "仙姑", "仙子", "太太", "奶奶", "姑娘")


def honorific_gender(form: str) -> str | None:
    """Gender carried by a title: Mr./Lady/the Queen (en), 太爷/七嫂/吴妈/公主 (zh suffixes)."""
    if form.endswith(_ZH_FEMALE_TITLES):
        return "f"
    words = form.replace(".", " ").split()
    if words and (len(words) > 1 or words[0] in ("King", "Queen", "Duchess", "Duke")):
        g = _HONORIFIC_GENDER.get(words[0])
        if g:
            return g
    if CJK_RE.search(form[-1:]):
        for g, suffixes in _ZH_GENDER_SUFFIX.items():
            if form.endswith(suffixes) and len(form) >= 2:
                return g
    return None


_PRONOUNS = {
    "en": (re.compile(r"\b(?:(he|him|his|himself)|(she|her|hers|herself))\b", re.I)),
    "zh": (re.compile(r"(他)|(她)")),
}
_CLAUSE_END = re.compile(r"[.!?;。！？；\n“”\"]")


def pronoun_votes(text: str, matcher: NameMatcher, language: str) -> dict[str, list[int]]:
    """For each surface form, how often the first pronoun after a mention (same clause, 80
    chars) is masculine vs feminine: {form: [he, she]}. A cheap, general gender cue."""
    pron = _PRONOUNS["zh" if language == "zh" else "en"]
    votes: dict[str, list[int]] = {}
    for m in matcher.finditer(text):
        window = text[m.end() : m.end() + 80]
        stop = _CLAUSE_END.search(window)
        window = window[: stop.start()] if stop and language == "zh" else window
        p = pron.search(window)
        if p:
            v = votes.setdefault(matcher.form(m), [0, 0])
            v[0 if p.group(1) else 1] += 1
    return votes


def matcher_for(characters: Iterable[object], language: str) -> NameMatcher:
    """A NameMatcher over Character objects (name + aliases -> name)."""
    forms: dict[str, str] = {}
    for c in characters:
        for f in [c.name, *c.aliases]:  # type: ignore[attr-defined]
            forms.setdefault(f, c.name)  # type: ignore[attr-defined]
    return NameMatcher(forms, language)
