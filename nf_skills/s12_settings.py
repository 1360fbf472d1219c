"""SKILL_12 setting extraction: the locations and props of a chapter, with mention counts.

zh: jieba words tagged `ns` (place names) or ending in a place suffix (山/洞/河/宫/殿/寺/国/城/府
/庄 ...) are locations; words ending in an object suffix (棒/剑/扇/瓶 ...) or in a short list of
object nouns are props. en: capitalised places after in/at/to/from (`at Longbourn`), capitalised
names ending in a place noun (Netherfield Park, the Hall), and "the <place noun>" (the garden,
the court) are locations; props come from a short list of object nouns.
"""

from __future__ import annotations

import re
from collections import Counter

from nf_skills import _textkit as tk
from nf_skills.contracts import Chapter, Setting

SKILL_ID = "SKILL_12"
VERSION = "1.0.0"

_ZH_PLACE_SUFFIX = tuple(
    "山 洞 河 宫 殿 寺 国 城 府 庄 村 岭 江 湖 海 关 州 县 镇 院 庙 观 楼 阁 亭 桥 林 园 堂 洲 岛 "
    "峰 谷 溪 潭 泉 店 街 巷 门 营 寨 坡 崖 涧".split()
)
_ZH_PROP_SUFFIX = tuple(
    "棒 剑 刀 枪 钯 杖 扇 瓶 葫芦 袈裟 钵盂 宝贝 金箍 箍 镜 铃 印 旗 鞭 弓 箭 绳 索 灯 炉 丹 "
    "钟 鼓 锣 琴 笔 书 信 帖 画 伞 轿 车 船 碗 壶 杯 盏 酒 茶 饭 衣 帽 鞋 袍 甲 盔 帕 扇子 "
    "钗 簪 镯 钱 银子 元宝 包袱 桃".split()
)
_ZH_NOT_PLACE = set(
    "这山 那山 此山 高山 深山 江山 下山 上山 出门 进门 开门 关门 山门 佛门 沙门 衙门 "
    "国王 王国 天国 本国 贵国 一国 满城 进城 出城 回府 府上 寺里 庙里 门外 门里 门前 "
    "大门 二门 房门 洞门 洞口 宫中 殿上 海中 河边 湖边 江边 林中 水国 外国 入城 全城".split()
)
_ZH_NOT_PROP = set(
    "一杯 一盏 一碗 一书 那书 文书 书信 念书 读书 看书 天书 吃茶 喝酒 吃酒 吃饭".split()
)
_ZH_BAD_START = set("这那此其每各一二三四五六七八九十几满上下左右前后里外进出到往在去来回入")

_EN_PLACE_NOUN = (
    "Room|House|Hall|Garden|Gardens|Park|Street|Court|Wood|Woods|Lodge|Castle|Palace|Church|"
    "Square|Lane|Road|Inn|Abbey|Manor|Hill|River|Lake|Forest|Town|Village|Cottage|Place|Farm|"
    "Bridge|Gate|Tower|Chapel|Parsonage|Rectory|Library|Terrace|Row|Common|Green"
)
_EN_CAP = r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
_EN_PLACE_AFTER_PREP = re.compile(
    rf"\b(?:in|at|to|from|into|near|towards|toward|through|round|reach(?:ed)?|visit(?:ed)?|"
    rf"leave|left)\s+(?:the\s+)?({_EN_CAP}(?:\s+{_EN_CAP}){{0,2}})"
)
_EN_NAMED_PLACE = re.compile(rf"\b((?:{_EN_CAP}\s+){{1,2}}(?:{_EN_PLACE_NOUN}))\b")
_EN_COMMON_PLACE = re.compile(
    r"\b(?:the|a|her|his|their|our)\s+((?:drawing|dining|breakfast|sitting|great|little|"
    r"small|front|back)[- ])?(room|hall|garden|house|kitchen|library|court|courtroom|wood|pool|"
    r"parlour|parlor|church|ballroom|staircase|lane|road|park|shrubbery|village|town|street|"
    r"inn|cottage|beach|shore|sea|river|forest|castle|palace|table|window|door|hill|field|"
    r"meadow|chamber|bedroom|study)\b",
    re.I,
)
_EN_NOT_PLACE_HEAD = {"table", "window", "door"}  # furniture: props, not settings
_EN_PROPS = (
    "key|keys|bottle|cake|fan|gloves|glove|letter|letters|watch|book|books|tea|tart|tarts|cup|"
    "cups|teapot|jar|hat|umbrella|sword|mushroom|pepper|baby|flamingo|hedgehog|mallet|croquet|"
    "note|card|cards|carriage|chaise|horse|pianoforte|piano|bonnet|ribbon|necklace|ring|"
    "portrait|picture|basket|candle|lamp|pen|purse|money|handkerchief|table|door|window|"
    "chair|sofa|bed|knife|gun|pistol|cloak|coat|box|crown|scroll|map|lantern"
)
_EN_PROP_RE = re.compile(
    rf"\b(?:the|a|an|her|his|their|my|your|this|that)\s+(?:[a-z]+\s+){{0,2}}?({_EN_PROPS})\b",
    re.I,
)
_EN_STOP_PLACE = {
    "The", "This", "That", "Mr", "Mrs", "Miss", "Lady", "Sir", "Lord", "Her", "His", "Their",
    "I", "He", "She", "It", "They", "We", "You", "Chapter", "Heaven", "God", "March",
}  # fmt: skip


def extract_settings(chapter: Chapter, language: str) -> list[Setting]:
    """Locations and props of a chapter, most mentioned first."""
    locs, props = _scan(chapter.text, language)
    out = [Setting(name=n, kind="location", mentions=c) for n, c in _ranked(locs)]
    out += [Setting(name=n, kind="prop", mentions=c) for n, c in _ranked(props)]
    return out


def locations_in(text: str, language: str) -> list[str]:
    """Location names found in `text`, most mentioned first."""
    locs, _ = _scan(text, language, min_count=1)
    return [n for n, _c in _ranked(locs)]


def location_mentions(text: str, language: str) -> list[tuple[int, str]]:
    """(offset, location name) of every location mention, in text order (SKILL_07 assigns them
    to scenes without scanning each scene again)."""
    return sorted(
        (off, name) for off, name, kind in _mentions(text, language) if kind == "location"
    )


def _ranked(c: Counter) -> list[tuple[str, int]]:
    return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))


def _scan(text: str, language: str, min_count: int = 2) -> tuple[Counter, Counter]:
    locs: Counter = Counter()
    props: Counter = Counter()
    for _off, name, kind in _mentions(text, language):
        (locs if kind == "location" else props)[name] += 1
    # one mention is noise in a long chapter, but the only hint in a short text
    need = 1 if len(text) < 1500 else min_count
    locs = Counter({k: v for k, v in locs.items() if v >= need})
    props = Counter({k: v for k, v in props.items() if v >= need})
    return locs, props


def _mentions(text: str, language: str) -> list[tuple[int, str, str]]:
    if language == "zh":
        return _scan_zh(text)
    return _scan_en(tk.analysis_text(text, language))  # same length: offsets hold


def _scan_zh(text: str) -> list[tuple[int, str, str]]:
    tags = tk.word_tags()
    out: list[tuple[int, str, str]] = []
    pos = 0
    for w in tk.cut(text, cached=True):
        off, pos = pos, pos + len(w)
        if len(w) < 2 or not tk.CJK_RE.match(w[0]) or w[0] in _ZH_BAD_START:
            continue
        if not all(tk.CJK_RE.match(c) for c in w):
            continue
        tag = tags.get(w)
        if w in _ZH_NOT_PLACE or w in _ZH_NOT_PROP:
            continue
        # jieba's ns tag alone is noisy on short words (大圣, 礼拜): ask for 3+ characters, or a
        # place suffix plus a place/noun tag
        suffixed = w.endswith(_ZH_PLACE_SUFFIX)
        if len(w) <= 6 and (
            (tag == "ns" and (len(w) >= 3 or suffixed))
            or (suffixed and len(w) >= 3 and tag in (None, "n", "nz", "nt", "nr"))
        ):
            out.append((off, w, "location"))
        elif w.endswith(_ZH_PROP_SUFFIX) and tag in (None, "n", "nz") and len(w) <= 4:
            out.append((off, w, "prop"))
    return out


def _scan_en(text: str) -> list[tuple[int, str, str]]:
    out: list[tuple[int, str, str]] = []
    cap_total = Counter(re.findall(rf"(?<![\w’'])({_EN_CAP})(?![\w])", text))
    after_prep: dict[str, list[int]] = {}
    for m in _EN_PLACE_AFTER_PREP.finditer(text):
        name = _trim(m.group(1))
        if name:
            after_prep.setdefault(name, []).append(m.start(1))
    for name, offs in after_prep.items():
        head = name.split()[0]
        # a person is also met elsewhere in the text; a place mostly after a preposition
        if len(offs) >= 2 and len(offs) >= 0.4 * cap_total[head]:
            out += [(o, name, "location") for o in offs]
    for m in _EN_NAMED_PLACE.finditer(text):
        name = _trim(m.group(1))
        if name and len(name.split()) >= 2:
            out.append((m.start(1), name, "location"))
    for m in _EN_COMMON_PLACE.finditer(text):
        head = m.group(2).lower()
        if head in _EN_NOT_PLACE_HEAD:
            continue
        name = re.sub(r"\s+", " ", ((m.group(1) or "").lower().replace("-", " ") + head).strip())
        out.append((m.start(), "the " + name, "location"))
    for m in _EN_PROP_RE.finditer(text):
        out.append((m.start(1), m.group(1).lower(), "prop"))
    return out


def _trim(name: str) -> str:
    words = re.sub(r"\s+", " ", name).split()
    while words and words[0] in _EN_STOP_PLACE:
        words = words[1:]
    return " ".join(words)
