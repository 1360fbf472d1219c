"""Number parsing for chapter headings: Chinese numerals, roman numerals, English number words.

Each parser returns an int or None when the text is not a well-formed number, so a heading rule
can use the parse as a validity check (``Chapter Ivan`` is not chapter 1).
"""

from __future__ import annotations

import re

_ZH_DIGITS = {
    "零": 0, "〇": 0, "○": 0, "０": 0,
    "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2, "三": 3, "叁": 3, "參": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6, "七": 7, "柒": 7,
    "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_ZH_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_ZH_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}

# Characters a Chinese heading number may be written with (digits in any width included).
ZH_NUMERAL_CHARS = (
    "0-9０-９" + "".join(_ZH_DIGITS) + "".join(_ZH_SMALL_UNITS) + "".join(_ZH_BIG_UNITS)
)

_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def parse_chinese(s: str) -> int | None:
    """一百零二 -> 102, 两千 -> 2000, 十二 -> 12, 一〇二 -> 102 (digit by digit), １２ -> 12."""
    s = s.strip().translate(_FULLWIDTH)
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if any(ch.isdigit() for ch in s):
        return None  # mixed forms such as 1百 are not a numeral we trust
    if not all(ch in _ZH_DIGITS or ch in _ZH_SMALL_UNITS or ch in _ZH_BIG_UNITS for ch in s):
        return None
    if not any(ch in _ZH_SMALL_UNITS or ch in _ZH_BIG_UNITS for ch in s):
        # no unit characters: positional digits (一〇二) or a single digit
        value = 0
        for ch in s:
            value = value * 10 + _ZH_DIGITS[ch]
        return value
    total = section = digit = 0
    seen_digit = False
    last_small = 10**6
    for ch in s:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
            seen_digit = digit != 0  # 零 only marks a gap: 一千零十 = 1010
        elif ch in _ZH_SMALL_UNITS:
            unit = _ZH_SMALL_UNITS[ch]
            if unit >= last_small:
                return None  # 十百 / 百百: units must decrease within a section
            last_small = unit
            if not seen_digit:
                if unit != 10:
                    return None  # only 十 may stand alone (十二 = 12)
                digit = 1
            section += digit * unit
            digit, seen_digit = 0, False
        else:
            total += (section + digit) * _ZH_BIG_UNITS[ch]
            section = digit = 0
            seen_digit = False
            last_small = 10**6
    return total + section + digit


_ROMAN_RE = re.compile(r"M{0,4}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def parse_roman(s: str) -> int | None:
    """Canonical roman numerals in one case only: XLVI -> 46, xlvi -> 46, XlVi -> None."""
    if not s or not (s.isupper() or s.islower()):
        return None
    up = s.upper()
    if not _ROMAN_RE.fullmatch(up):
        return None
    value = 0
    for a, b in zip(up, up[1:] + " ", strict=True):
        v = _ROMAN_VALUES[a]
        value += -v if b != " " and _ROMAN_VALUES[b] > v else v
    return value


_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORD_UNITS = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_ORD_TENS = "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()

_WORD_VALUES: dict[str, int] = {}
for _i, _w in enumerate(_UNITS):
    _WORD_VALUES[_w] = _i
for _i, _w in enumerate(_ORD_UNITS):
    _WORD_VALUES[_w] = _i
for _i, _w in enumerate(_TENS):
    _WORD_VALUES[_w] = 20 + 10 * _i
for _i, _w in enumerate(_ORD_TENS):
    _WORD_VALUES[_w] = 20 + 10 * _i
_TENS_WORDS = set(_TENS) | set(_ORD_TENS)
_HUNDRED = {"hundred", "hundredth"}

_WORD_ALT = "|".join(sorted([*_WORD_VALUES, *_HUNDRED], key=len, reverse=True))
# A number written in words, e.g. "Twenty-One", "the First", "one hundred and five".
NUMBER_WORDS_PATTERN = (
    rf"(?i:(?:the\s+)?(?:{_WORD_ALT})(?:(?:-|\s+)(?:and\s+)?(?:{_WORD_ALT})){{0,3}})(?![\w-])"
)


def parse_english(s: str) -> int | None:
    """Cardinal or ordinal number words up to 999: "Twenty-one" -> 21, "the First" -> 1."""
    tokens = [t for t in re.split(r"[-\s]+", s.strip().lower()) if t and t != "and"]
    if tokens and tokens[0] == "the":
        tokens = tokens[1:]
    if not tokens:
        return None
    value = 0
    current = 0
    prev: str | None = None
    for t in tokens:
        if t in _HUNDRED:
            if prev is None or prev in _HUNDRED or prev in _TENS_WORDS or current >= 10:
                return None
            value += current * 100
            current = 0
        elif t in _WORD_VALUES:
            v = _WORD_VALUES[t]
            if prev is not None and prev not in _HUNDRED:
                # only "tens unit" may follow another word: twenty-one, not "one two"
                if not (prev in _TENS_WORDS and 0 < v < 10 and current % 10 == 0):
                    return None
            current += v
        else:
            return None
        prev = t
    return value + current
