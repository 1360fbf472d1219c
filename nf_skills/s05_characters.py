"""SKILL_05 character extraction: names, aliases and mention counts.

zh candidates: jieba person-name tags (dictionary tags; words jieba does not know are tagged by
its HMM tagger on a few sample contexts only, which keeps a 700k-character book to seconds),
speech-tag subjects (X道/X说/X问 ...), surname + title (赵太爷, 邹七嫂), 阿/小 + letter (阿Q).
en candidates: capitalised word runs with an optional honorific (Mr. Darcy, Mock Turtle, Queen);
a word only capitalised at sentence starts is not a name; places (mostly after in/at/to/from)
are dropped.

Aliases are merged by general rules, in this order (union-find):
1. naming statements: "A又名B", "A号B", "A叫做B"; a speaker introducing themself in a quote
   (大圣道：“我……叫做孙悟空”); "A, called B" in English;
2. addressed replies: a quote that opens by addressing Y (“悟空，……”) is answered by Z
   (行者道) again and again -> Y and Z are one person;
3. distribution: two frequent names that share many paragraphs yet almost never a sentence are
   two names of one person (三藏/唐僧);
4. a small documented knowledge base of epithets of classics and English nicknames
   (data/known_aliases.json), applied only between names found in the book;
5. substring/honorific: 悟空 in 孙悟空, Darcy in Mr. Darcy, when the shorter form is not shared
   by several people (Bennet) and honorifics do not conflict (Mr./Mrs.).
Mentions are counted by longest match, so 孙悟空 is not also counted as 悟空.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

from nf_skills import _textkit as tk
from nf_skills.contracts import Chapter, Character, CharacterList
from nf_skills.s08_dialogue import attribute_quotes

SKILL_ID = "SKILL_05"
VERSION = "1.2.0"

_DATA = Path(__file__).with_name("data") / "known_aliases.json"

# --- zh lexical knowledge ----------------------------------------------------------------
_ZH_NR = {"nr", "nrfg", "nrt"}
_ZH_NOUNISH = {"n", "nr", "nrfg", "nrt", "ns", "nz", "nt", "ng", "j", "l", None}
_ZH_SPEECH = {"道", "说", "问", "曰", "说道", "问道", "叫道", "笑道", "喝道", "答道", "骂道",
              "叹道", "喊道", "嚷道", "应道", "哭道", "告道", "回道", "大叫"}  # fmt: skip
# pronouns, self-references, collectives and generic roles/kinship: never a character's name
_ZH_STOP = set(
    "我 你 他 她 它 我们 你们 他们 她们 咱们 自己 大家 众人 人们 有人 那人 此人 别人 旁人 "
    "老孙 老猪 俺 贫僧 贫道 小人 在下 老身 奴家 小的 本官 寡人 朕 "
    "师父 师傅 师兄 师弟 徒弟 弟子 长老 和尚 老者 老儿 老头 老头子 妖精 妖怪 那怪 妖魔 魔王 "
    "大王 小妖 女子 妇人 女人 男人 老爷 太爷 先生 小姐 夫人 太太 娘子 娘娘 相公 官人 公子 "
    "哥哥 兄弟 姐姐 妹妹 父亲 母亲 孩子 儿子 女儿 主人 客人 皇帝 万岁 陛下 圣上 众神 众僧 "
    "众猴 神仙 天王 土地 国王 那厮 这厮 闻言 谢恩 文武 施礼 多官 小姐姐 东西 什么 怎么 "
    "这个 那个 一个 不知 如何 只见 不题 却说 且说 话说 正是 原来 不是 不曾 不敢 不能 只得 "
    "开口 插嘴 插话 回答 说话".split()
)
_ZH_SURNAMES = set(
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛"
    "范彭郎鲁韦昌马苗凤花方俞任袁柳鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余"
    "元卜顾孟平黄和穆萧尹姚邵湛汪祁毛禹狄米贝明臧计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵席季"
    "贾江童颜郭梅盛林钟徐邱骆高夏蔡田樊胡凌霍虞万柯管卢莫房解应宗丁邓郁单杭洪包诸左石崔吉龚程"
    "邢裴陆荣翁荀羊甄曲封储靳焦牧山车侯宓全班仰秋仲伊宫宁仇栾暴甘厉戎祖武符刘景詹龙叶幸司黎"
    "薄印白怀蒲邰从鄂索咸籍赖卓蔺屠蒙池乔阴胥能苍双闻党翟谭贡劳姬申扶堵冉宰雍桑桂濮牛寿通边扈"
    "燕冀浦尚农温别庄晏柴瞿阎连习艾鱼容向古易慎戈廖庾终居衡步都耿满弘匡国文寇广禄阙东欧沃利蔚"
    "越夔隆师巩聂晁勾敖融冷辛阚那简饶空曾沙养鞠须丰巢关蒯相查后荆红游竺权逯盖益桓公"
)
_ZH_TITLES = (
    "太爷|老爷|少爷|大爷|二爷|三爷|秀才|举人|先生|小姐|夫人|太太|奶奶|姑娘|公子|娘子|大人|员外|"
    "掌柜|师傅|老头|大嫂|大娘|大妈|嫂|婶|妈|姐|哥|叔|伯|公|婆|翁"
)
_ZH_TITLE_RE = re.compile(rf"([{tk.CJK}])([一二三四五六七八九十大小老]?)({_ZH_TITLES})")
_ZH_LETTER_RE = re.compile(r"[阿小老][A-Za-zＡ-Ｚ](?![A-Za-z])")
_ZH_PLACE_SUFFIX = tuple("山洞河宫殿寺国城府庄村岭江湖海关州县镇院庙观楼阁亭桥林门堂界洲岛家")
_ZH_FUNCTION_CHARS = set("笑道说问又便也却等们忙听见与和的了来去在将把被闻叫喝看这那此众一都只就")
_ZH_NAMING = (
    r"(?:即是|又名|又叫做|又唤做|又称|号为|号曰|法名|混名|绰号|诨名|人称|叫做|唤做|名唤|名叫|称为|"
    r"[，,]?表字|[，,]字|[，,]号)"
)
_ZH_SELF_NAMING = r"(?:叫做|唤做|名叫|名唤|法名|号为|号曰|乃是|就是|便是|即是)"
# a gap between 我 and the naming verb that makes someone else the one named (我与你……称为,
# 我师父……号曰, 我这鹿儿即是)
_ZH_SELF_GAP_BLOCK = re.compile(
    r"你|他|她|们|与|给|替|把|将|这|那|的|个|道|说|想|问|师|徒|兄|弟|哥|姐|妹|儿|父|母|妻|夫|主"
)
_ZH_SELF = r"(?:我|吾|俺|贫僧|贫道|小人|在下|老身|奴家|小的|老孙|本王)"

# --- en lexical knowledge ----------------------------------------------------------------
_EN_HON = (
    r"(?:Mr|Mrs|Ms|Miss|Mistress|Master|Dr|Sir|Lady|Lord|Madam|Madame|Colonel|Col|Captain|Capt|"
    r"Major|General|Lieutenant|Uncle|Aunt|Professor|Prof|Father|Brother|Sister|Saint|St|Prince|"
    r"Princess|Count|Countess|Baron|Baroness|Reverend|Rev)"
)
_UP, _LO = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"  # Latin-1 letters too: Thérèse, Émile
_CAP = rf"[{_UP}][{_LO}]+(?:-[{_UP}][{_LO}]+)?"
_WS = r"(?:[ \t]+\n?[ \t]*|\n[ \t]*)"  # spaces or one line wrap, never a blank line
_EN_SEQ = re.compile(
    rf"(?<![\w’'])(?:(?P<hon>{_EN_HON})\.?{_WS})?"
    rf"(?P<body>{_CAP}(?:{_WS}(?!{_EN_HON}\b){_CAP}){{0,2}})(?![\w])"
)
_EN_STOP = set(
    """A An The And But Or Nor If When While Then Than So As At In On Of To For From By With
    Without Into Onto Upon After Before Since Until Unless Though Although Because However Yet Still
    I Me My Mine Myself We Us Our He Him His Himself She Her Hers Herself It Its They Them Their You
    Your Yours This That These Those There Here Where What Which Who Whom Whose Why How Now
    Oh Ah Aye Yes No Not Nay Well Why Indeed Pray Dear Alas Hush Come Go Let Do Does Did Is Are Was
    Were Be Been Have Has Had Shall Should Will Would Can Could May Might Must Ought All Any Some
    Every Each Both Either Neither One Two Three First Second Last Next Very Such Only Just Even
    Perhaps Certainly Nothing Everything Something Anything Nobody Somebody Everybody Anybody
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
    July August September October November December Christmas Easter Michaelmas
    God Lord Heaven Heavens Sir Madam Ma Mr Mrs Miss Ms Dr Lady Majesty Highness Grace Ladyship
    Lordship Honour Honor Chapter Volume Book Part Illustration Contents Footnote Note Page
    English French German Italian Spanish Latin Greek Christian Sunday Mamma Papa Mama Ha Hm
    Tut Alas Good Ay Nonsense Nor Off Up Down Out Over Again Never Ever Always Sure Quite
    Yes OK""".split()
)
# calendar words are no names alone, but may start one (the March Hare)
_EN_CALENDAR = set(
    """Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May
    June July August September October November December""".split()
)
_SPACES = re.compile(r"\s*")
_EN_PLACE_PREP = re.compile(r"(?:\b(?:in|at|to|from|into|near|towards|toward|through|round)\s+)$")


def extract_characters(chapters: list[Chapter], language: str, top_n: int = 50) -> CharacterList:
    """The `top_n` most mentioned characters, aliases merged, sorted by mentions (descending)."""
    if not chapters:
        return CharacterList(characters=[], skill_version=VERSION)
    text = "\n\n".join(c.text for c in chapters)
    zh = language == "zh"
    text = tk.analysis_text(text, language)
    cands = _zh_candidates(text) if zh else _en_candidates(text)
    if not cands:
        return CharacterList(characters=[], skill_version=VERSION)
    counts = _count(text, cands, language)
    min_count = _min_count(len(text))
    forms = sorted((f for f, n in counts.items() if n >= min_count), key=lambda f: (-counts[f], f))
    forms = forms[: max(4 * top_n, 60)]
    counts = _count(text, forms, language)  # recount: a dropped form no longer shadows others
    forms = [f for f in forms if counts[f] >= min_count]
    groups = _merge_aliases(text, forms, counts, language)
    return _build(chapters, groups, counts, language, top_n)


def _min_count(n_chars: int) -> int:
    # a name must recur; longer books need more evidence (about 1 per 100k chars, at least 3);
    # a short text (a few paragraphs) names its speakers once or twice
    if n_chars < 4_000:
        return 1 if n_chars < 1_500 else 2
    if n_chars < 20_000:
        return 2
    return max(3, min(12, n_chars // 100_000 + 2))


def _count(text: str, forms, language: str) -> Counter:
    matcher = tk.NameMatcher({f: f for f in forms}, language)
    return Counter(matcher.form(m) for m in matcher.finditer(text))


# --- zh candidates -------------------------------------------------------------------------


def _zh_valid(w: str, full_name: bool = False) -> bool:
    """`full_name`: a surname + given name the dictionary tags as a person (田福堂, 金俊山),
    which may end in a place character."""
    if len(w) < 2 or len(w) > 5 or w in _ZH_STOP:
        return False
    if not tk.CJK_RE.search(w) or not re.fullmatch(rf"[{tk.CJK}A-Za-zＡ-Ｚ]+", w):
        return False
    if w.endswith(_ZH_PLACE_SUFFIX) and not _ZH_LETTER_RE.fullmatch(w) and not full_name:
        return False
    # names neither end in aspect particles/localisers nor start with determiners/negations
    return w[0] not in "这那此该每各诸众一不有没无且" and w[-1] not in "着了得中里上下内外过们"


def _zh_candidates(text: str) -> set[str]:
    toks = tk.cut(text)
    freq = Counter(toks)
    tags = tk.word_tags()
    min_freq = _min_count(len(text))
    cands: set[str] = set()
    oov: list[str] = []
    full: set[str] = set()  # surname + given name tagged as a person: no context test
    for w, n in freq.items():
        if n < min_freq or not _zh_valid(w, _zh_full_name(w, tags.get(w))):
            continue
        tag = tags.get(w)
        if tag in _ZH_NR:
            cands.add(w)
            if _zh_full_name(w, tag):
                full.add(w)
        elif tag is None and len(w) <= 4:
            oov.append(w)
    # a short text (a few paragraphs) has too few mentions for the context test: the tagger
    # alone decides there
    short = len(text) < 4_000
    ctx_min = 0.0 if short else 0.15
    oov = [w for w in oov if _person_context(text, w) >= ctx_min]  # cheap test before tagging
    cands |= _zh_tag_oov(text, oov, freq)
    # subjects of speech tags: X道 / X笑道 / X问
    speakers: Counter = Counter()
    for i, w in enumerate(toks):
        if w not in _ZH_SPEECH or i == 0:
            continue
        j = i - 1
        while (
            j > 0 and i - j <= 3 and (len(toks[j]) == 1 or (tags.get(toks[j]) or "n")[0] in "vdap")
        ):
            if not tk.CJK_RE.fullmatch(toks[j][-1]):
                break
            j -= 1
        s = toks[j]
        if _zh_valid(s) and tags.get(s) in _ZH_NOUNISH:
            speakers[s] += 1
    cands |= {s for s, n in speakers.items() if n >= min(3, min_freq)}
    cands |= _zh_surname_speakers(text, min_freq)
    # jieba's nr tag is noisy (布衫, 籍贯) and speech tags catch predicates (行者大喜道): keep
    # words that sit where people do and do not mostly follow another name
    kept = {w for w in cands if w in full or _person_context(text, w) >= ctx_min}
    # formal full names (孙悟空, 齐天大圣) sit in naming phrases more than in action; keep them
    # when they extend a kept name
    kept |= {
        w
        for w in cands - kept
        if any(w.endswith(k) and (w[0] in _ZH_SURNAMES or len(w) - len(k) == 2) for k in kept)
    }
    cands = _drop_predicates(text, kept)
    # surname + title (赵太爷, 邹七嫂) and 阿/小 + letter (阿Q, 小D)
    titled = Counter(m.group() for m in _ZH_TITLE_RE.finditer(text) if m.group(1) in _ZH_SURNAMES)
    cands |= {w for w, n in titled.items() if n >= min_freq and w not in _ZH_STOP}
    letters = Counter(m.group() for m in _ZH_LETTER_RE.finditer(text))
    cands |= {w for w, n in letters.items() if n >= min_freq}
    cands = _zh_prune(cands, tags)
    return cands | _zh_given_names(text, cands, min_freq)


_ZH_KIN = "姐哥妹弟嫂叔婶爷娘儿丫"


def _zh_full_name(w: str, tag: str | None) -> bool:
    """A three-character surname + given name that jieba's dictionary tags as a person name:
    in modern fiction these sit in any context (孙少安 在 …), so no person-context test."""
    return tag in _ZH_NR and len(w) == 3 and w[0] in _ZH_COMMON_SURNAMES


def _zh_given_names(text: str, cands: set[str], min_freq: int) -> set[str]:
    """The given name of a full name (孙少平 -> 少平, 王熙凤 -> 熙凤) and a given-name character
    with a kinship suffix (凤姐, 平儿) as forms of their own when the text uses them; they are
    merged into the full name by containment or by `_zh_nicknames`."""
    out: set[str] = set()
    for w in cands:
        if len(w) != 3 or w[0] not in _ZH_SURNAMES or w[0] in "和与同跟对向给把将被":
            continue
        given = w[1:]
        if given[0] in _ZH_FUNCTION_CHARS or given in _ZH_STOP:
            continue
        if text.count(given) - text.count(w) >= min_freq:
            out.add(given)
        for c in set(given) - set("大小老二三四五一"):
            for k in _ZH_KIN:
                f = c + k
                if f not in _ZH_STOP and text.count(f) >= max(2, min_freq):
                    out.add(f)
    return out


_ZH_AFTER_PERSON = set("道说笑问便又却也就才都只见听看想叫喝走跑忙连急怒喜正已还仍竟")
_ZH_BEFORE_PERSON = set("和与同对向给叫将把被请见问骂打拉")


def _person_context(text: str, w: str, limit: int = 400) -> float:
    """Share of occurrences followed by an action/speech char or preceded by a dative/object
    marker: high for people (行者道, 与八戒), low for things and places (花果山, 宝殿)."""
    n = hits = 0
    pos = 0
    while n < limit:
        i = text.find(w, pos)
        if i < 0:
            break
        n += 1
        pos = i + len(w)
        after = text[pos : pos + 1]
        before = text[i - 1 : i] if i else ""
        hits += after in _ZH_AFTER_PERSON or before in _ZH_BEFORE_PERSON
    return hits / n if n else 0.0


_ZH_COMMON_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "钱严覃武戴莫孔向汤"
)
_ZH_SPEECH_AHEAD = re.compile(r"(?=(?:笑道|说道|问道|叫道|答道|道|说|问)[：:，,“])")


def _zh_surname_speakers(text: str, min_freq: int = 3) -> set[str]:
    """Surname + given name right before a speech verb (张三道：), which the segmenter may cut
    wrongly (张 / 三道): the 3-character reading when it starts with a surname, else the
    2-character one."""
    found: Counter = Counter()
    for m in _ZH_SPEECH_AHEAD.finditer(text):
        end = m.start()
        for size in (3, 2):
            w = text[max(0, end - size) : end]
            cjk = len(w) == size and all(tk.CJK_RE.match(c) for c in w)
            if cjk and w[0] in _ZH_COMMON_SURNAMES:
                found[w] += 1
                break
    return {w for w, n in found.items() if n >= min(3, min_freq) and _zh_valid(w)}


def _drop_predicates(text: str, cands: set[str]) -> set[str]:
    if not cands:
        return cands
    alts = "|".join(re.escape(c) for c in sorted(cands, key=len, reverse=True))
    pair = re.compile(f"(?=({alts})({alts}))")
    after_name: Counter = Counter()
    for m in pair.finditer(text):
        after_name[m.group(2)] += 1
    total = Counter(m.group() for m in re.finditer(alts, text))
    return {c for c in cands if after_name[c] < 0.4 * max(1, total[c])}


def _zh_tag_oov(text: str, words: list[str], freq: Counter, samples: int = 3) -> set[str]:
    """Tag words missing from jieba's dictionary with its HMM tagger, on a few short contexts
    only (tagging a whole book this way costs ~30 s for 700k characters)."""
    words = sorted(words, key=lambda w: -freq[w])[:600]
    out: set[str] = set()
    for w in words:
        votes = 0
        pos = 0
        seen = 0
        while seen < samples:
            i = text.find(w, pos)
            if i < 0:
                break
            pos = i + len(w)
            seen += 1
            ctx = text[max(0, i - 6) : i + len(w) + 6]
            votes += any(t == w and f in _ZH_NR for t, f in tk.posseg(ctx))
        if seen and votes * 2 > seen:
            out.add(w)
    return out


def _zh_prune(cands: set[str], tags: dict[str, str]) -> set[str]:
    """Drop fragments glued to a name by the segmenter: name + function char (沙僧笑), function
    char + name (那行者), or an unknown verb char + name (保唐僧); a surname + name stays."""
    out = set()
    for w in cands:
        head, tail = w[:-1], w[1:]
        if w[-1] in _ZH_FUNCTION_CHARS and head in cands:
            continue
        if tail in cands and (
            w[0] in _ZH_FUNCTION_CHARS or (w[0] not in _ZH_SURNAMES and w not in tags)
        ):
            continue
        out.add(w)
    return out


# --- en candidates -------------------------------------------------------------------------


def _en_candidates(text: str) -> set[str]:
    total: Counter = Counter()
    mid: Counter = Counter()
    place: Counter = Counter()
    for s_start, s_end in tk.sentences(text, "en"):
        for m in _EN_SEQ.finditer(text, s_start, s_end):
            hon, body = m.group("hon"), m.group("body")
            words = body.split()
            start = m.start("body")
            # strip leading stopwords: "The Queen" -> "Queen" (which is then mid-sentence)
            lead_dropped = False
            while (
                words and words[0] in _EN_STOP and not (words[0] in _EN_CALENDAR and len(words) > 1)
            ):
                start = _SPACES.match(text, start + len(words[0])).end()
                words = words[1:]
                lead_dropped = True
            while words and words[-1] in _EN_STOP:
                words = words[:-1]
            if not words or any(w in _EN_STOP for w in words[1:] if w not in _EN_CALENDAR):
                continue
            if words[0] in _EN_STOP and (len(words) == 1 or words[0] not in _EN_CALENDAR):
                continue
            if hon and not lead_dropped:
                dot = "." if text[m.start("hon") + len(hon)] == "." else ""
                form = f"{hon}{dot} {' '.join(words)}"
                first = m.start()
            else:
                form = " ".join(words)
                first = start
            total[form] += 1
            before = text[s_start:first]
            if not _sentence_initial(before):
                mid[form] += 1
                if _EN_PLACE_PREP.search(text[max(0, first - 12) : first]):
                    place[form] += 1
    lower = Counter(w for w in re.findall(r"\b[a-z][a-z]+\b", text))
    cands = set()
    for form in total:
        m = mid[form]
        if m < 2:
            continue
        last = form.split()[-1]
        if len(form.split()) == 1 and lower[last.lower()] > 2 * m:
            continue  # a common noun capitalised now and then
        if place[form] > 0.4 * m and not _honorific_gender(form):
            continue
        cands.add(form)
    return cands


def _sentence_initial(before: str) -> bool:
    # only quote marks, brackets, dashes or spaces since the sentence (or a quote) began
    tail = re.split(r"[“\"‘(\[—:;]", before)[-1] if before else ""
    return tail.strip(" \t\n_'’”") == ""


# --- alias merging -------------------------------------------------------------------------


class _Groups:
    def __init__(self, forms: list[str]) -> None:
        self.parent = {f: f for f in forms}

    def find(self, f: str) -> str:
        while self.parent[f] != f:
            self.parent[f] = self.parent[self.parent[f]]
            f = self.parent[f]
        return f

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def members(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for f in self.parent:
            out[self.find(f)].append(f)
        return out


def _merge_aliases(text: str, forms: list[str], counts: Counter, language: str) -> list[list[str]]:
    zh = language == "zh"
    groups = _Groups(forms)
    matcher = tk.NameMatcher({f: f for f in forms}, language)
    stats = _Cooccurrence(text, matcher, language)
    atts = attribute_quotes(text, matcher, language)

    def can_merge(a: str, b: str) -> bool:
        return zh or not _gender_conflict(groups, a, b)

    def merge(a: str, b: str) -> None:
        if a != b and can_merge(a, b):
            groups.union(a, b)

    for a, b in _naming_statements(text, matcher, atts, language):
        merge(a, b)
    for a, b in _addressed_replies(text, atts, matcher, zh):
        merge(a, b)
    top = forms[:40]
    for a, b in itertools.combinations(top, 2):
        if stats.looks_like_alias(a, b):
            merge(a, b)
    for group in _lexicon(language):
        present = [f for f in group if f in groups.parent]
        for f in present[1:]:
            # English nicknames are ambiguous (Bill the Lizard is no William): ask that the two
            # appear near each other (10 paragraphs) at least twice; the Chinese epithets are
            # specific to their book
            if zh or stats.near_between(groups.members()[groups.find(present[0])], [f]) >= 2:
                merge(present[0], f)
    if zh:
        for a, b in _zh_nicknames(forms, counts, stats):
            merge(a, b)
    gender = _form_gender(forms, language)
    _merge_contained(groups, forms, counts, language, stats, merge, gender)
    return list(groups.members().values())


def _zh_nicknames(forms: list[str], counts: Counter, stats) -> list[tuple[str, str]]:
    """凤姐 -> 王熙凤: a given-name character + kinship suffix names the one full name whose
    given name has that character, when no other full name (3 chars, surname first) has it
    and the two are not seen together in one sentence."""
    full = [f for f in forms if len(f) == 3 and f[0] in _ZH_SURNAMES]
    out = []
    for f in forms:
        if len(f) != 2 or f[1] not in _ZH_KIN:
            continue
        owners = [w for w in full if f[0] in w[1:]]
        if len(owners) == 1 and stats.sentence_ratio(owners[0], f) <= 0.1:
            out.append((owners[0], f))
    return out


def _gender_conflict(groups: _Groups, a: str, b: str) -> bool:
    ga = {_honorific_gender(f) for f in groups.members()[groups.find(a)]} - {None}
    gb = {_honorific_gender(f) for f in groups.members()[groups.find(b)]} - {None}
    return bool(ga and gb and ga != gb) or len(ga | gb) > 1


def _honorific_gender(form: str) -> str | None:
    return tk.honorific_gender(form) if len(form.split()) > 1 else None


class _Cooccurrence:
    """Paragraph and sentence co-occurrence of the surface forms."""

    def __init__(self, text: str, matcher: tk.NameMatcher, language: str) -> None:
        self.para: Counter = Counter()
        self.sent: Counter = Counter()
        self.n_para: Counter = Counter()
        self.where: dict[str, list[int]] = defaultdict(list)  # paragraph numbers per form
        for k, (p_start, p_end) in enumerate(tk.paragraphs(text)):
            present = set(matcher.mentions(text, p_start, p_end))
            if not present:
                continue
            for f in present:
                self.where[f].append(k)
            self.n_para.update(present)
            for pair in itertools.combinations(sorted(present), 2):
                self.para[pair] += 1
            if len(present) < 2:
                continue
            for s_start, s_end in tk.sentences(text[p_start:p_end], language):
                sp = set(matcher.mentions(text, p_start + s_start, p_start + s_end))
                for pair in itertools.combinations(sorted(sp), 2):
                    self.sent[pair] += 1

    def looks_like_alias(self, a: str, b: str) -> bool:
        """Both names keep company in the same paragraphs but (nearly) never share a sentence:
        the narrator switches between two names of one person."""
        key = (a, b) if a < b else (b, a)
        p, s = self.para[key], self.sent[key]
        big = max(self.n_para[a], self.n_para[b])
        return p >= 10 and p >= 0.3 * big and s <= 0.06 * p

    def near_between(self, xs: list[str], ys: list[str], window: int = 10) -> int:
        """How many paragraphs mentioning one of `ys` have one of `xs` within `window`."""
        xk = sorted(k for x in xs for k in self.where.get(x, []))
        n = 0
        for k in sorted({k for y in ys for k in self.where.get(y, [])}):
            i = bisect.bisect_left(xk, k - window)
            n += i < len(xk) and xk[i] <= k + window
        return n

    def sentence_ratio(self, a: str, b: str) -> float:
        key = (a, b) if a < b else (b, a)
        return self.sent[key] / max(1, self.para[key])


def _naming_statements(text: str, matcher: tk.NameMatcher, atts, language: str):
    """(A, B) pairs stated as one person: A又名B / A叫做B / a speaker saying 我……叫做B."""
    names = "|".join(
        re.escape(f).replace(r"\ ", r"\s+")
        for f in sorted(matcher.forms, key=lambda f: (-len(f), f))
    )
    if language == "zh":
        direct = re.compile(rf"({names}){_ZH_NAMING}({names})(?=[，。！？、；”\s罢了是也])")
        self_naming = re.compile(
            rf"{_ZH_SELF}([^。！？”]{{0,8}}?){_ZH_SELF_NAMING}({names})(?=[，。！？、；”\s罢了是也])"
        )
    else:
        direct = re.compile(
            rf"\b({names}),?\s+(?:also\s+|otherwise\s+|commonly\s+)?(?:called|known\s+as|"
            rf"nicknamed|alias)\s+(?:the\s+)?({names})\b"
        )
        self_naming = re.compile(
            rf"\b(?:[Mm]y\s+name\s+is|I\s+am\s+called|[Cc]all\s+me)()\s+({names})\b"
        )
    for m in direct.finditer(text):
        yield tk._norm(m.group(1)), tk._norm(m.group(2))
    for att in atts:
        if att.form is None or att.rule not in ("pre", "post"):
            continue
        q = att.quote
        for m in self_naming.finditer(text, q.inner_start, q.inner_end):
            if not _ZH_SELF_GAP_BLOCK.search(m.group(1)):
                yield att.form, tk._norm(m.group(2))


def _addressed_replies(text: str, atts, matcher: tk.NameMatcher, zh: bool):
    """Y and Z are one person when quotes opening with “Y，…” are answered by Z far more often
    than chance (lift over Z's share of all attributed quotes) and more than by anyone else."""
    replies: Counter = Counter()
    vocatives: Counter = Counter()
    speakers = Counter(a.form for a in atts if a.form and a.rule in ("pre", "post"))
    n_speech = max(1, sum(speakers.values()))
    voc = re.compile(r"[，,！!]" if zh else r"[,!]")
    for cur, nxt in itertools.pairwise(atts):
        q = cur.quote
        first = next(matcher.finditer(text, q.inner_start, q.inner_end), None)
        if first is None or first.start() != q.inner_start or not voc.match(text, first.end()):
            continue
        if nxt.form is None or nxt.rule not in ("pre", "post") or nxt.quote.start - q.end > 200:
            continue
        if cur.form is None or cur.form == nxt.form:
            continue  # unknown addresser, or the addresser just goes on talking
        y = matcher.form(first)
        vocatives[y] += 1
        replies[(y, nxt.form)] += 1
    for (y, z), n in replies.items():
        lift = (n / vocatives[y]) / (speakers[z] / n_speech)
        if y != z and n >= 5 and n >= 0.6 * vocatives[y] and lift >= 2:
            yield y, z


def _form_gender(forms: list[str], language: str) -> dict[str, str]:
    """m/f for forms with an English honorific (Mr./Miss ...)."""
    if language == "zh":
        return {}
    return {f: g for f in forms if (g := _honorific_gender(f))}


def _merge_contained(
    groups: _Groups, forms, counts: Counter, language: str, stats, merge, gender: dict[str, str]
) -> None:
    """A shorter form inside longer ones (悟空/孙悟空, Darcy/Mr. Darcy, Rabbit/White Rabbit)
    joins them when the longer forms it sits in belong to one person, or one clearly dominates.
    A bare English surname goes to the man (Bingley: Mr. Bingley, not Miss Bingley)."""
    zh = language == "zh"
    for short in sorted(forms, key=lambda f: (len(f), f)):
        if zh:
            containers = [f for f in forms if f != short and short in f]
        else:
            pat = re.compile(rf"(?<![\w-]){re.escape(short)}(?![\w-])")
            containers = [f for f in forms if f != short and pat.search(f)]
        if not containers:
            continue
        male = [f for f in containers if gender.get(f) == "m"]
        female = [f for f in containers if gender.get(f) == "f"]
        if male and female and short.split()[-1] == containers[0].split()[-1]:
            # English convention: a bare surname is the man (Bingley is Mr. Bingley, not Miss
            # Bingley), unless the man is hardly ever mentioned
            if sum(counts[f] for f in male) >= 0.3 * sum(counts[f] for f in containers):
                containers = male
        by_group: dict[str, int] = defaultdict(int)
        for f in containers:
            by_group[groups.find(f)] += counts[f]
        ranked = sorted(by_group.items(), key=lambda kv: -kv[1])
        if len(ranked) > 1 and ranked[0][1] < 2 * ranked[1][1]:
            continue  # shared by several people (Bennet in Mr./Mrs./Jane Bennet)
        target = ranked[0][0]
        merge(target, short)
        if zh:
            # the other composites of the same name (齐天大圣 beside 孙大圣) join when they never
            # share a sentence with the person
            for f in containers:
                if groups.find(f) != groups.find(target) and stats.sentence_ratio(f, short) <= 0.1:
                    merge(target, f)


@lru_cache(maxsize=1)
def _lexicon_data() -> dict:
    return json.loads(_DATA.read_text(encoding="utf-8"))


def _lexicon(language: str) -> list[list[str]]:
    data = _lexicon_data()
    return data["zh"] if language == "zh" else data["en_nicknames"]


# --- output --------------------------------------------------------------------------------


def _build(chapters, groups: list[list[str]], counts: Counter, language: str, top_n: int):
    zh = language == "zh"
    lexicon_canon = {g[0] for g in _lexicon(language)}
    chars = []
    for members in groups:
        total = sum(counts[f] for f in members)
        name = _canonical(members, counts, zh, lexicon_canon)
        chars.append((total, name, members))
    chars.sort(key=lambda t: (-t[0], t[1]))
    chars = chars[:top_n]
    out = []
    for total, name, members in chars:
        matcher = tk.NameMatcher({f: name for f in members}, language)
        first = next(
            (
                c.index
                for c in chapters
                if next(matcher.finditer(tk.analysis_text(c.text, language)), None)
            ),
            None,
        )
        aliases = sorted((f for f in members if f != name), key=lambda f: (-counts[f], f))
        out.append(Character(name=name, aliases=aliases, mentions=total, first_chapter=first))
    return CharacterList(characters=out, skill_version=VERSION)


def _canonical(members: list[str], counts: Counter, zh: bool, lexicon_canon: set[str]) -> str:
    for f in members:
        if f in lexicon_canon and (not zh or len(members) > 1):
            return f
    pool = members
    if zh:
        # a full name (surname + given name, 孙悟空) beats an epithet, else the most frequent
        full = [
            f
            for f in members
            if any(o != f and f.endswith(o) and len(f) - len(o) == 1 for o in members)
        ]
        pool = full or members
    return max(pool, key=lambda f: (counts[f], -len(f), f))
