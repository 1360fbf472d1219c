"""SKILL_01 ingest: bytes of an uploaded novel -> clean, normalised text.

Steps: detect the encoding (BOM, UTF-16 NUL pattern, strict UTF-8, then GB18030 vs Big5 decided
by how much of each decoding is common Chinese, cp1252 as a last resort for mostly-ASCII text),
normalise (line ends, NFC, invisible characters, unusual spaces, trailing blanks, runs of blank
lines), strip web-dump boilerplate (site banners, URL lines, "read on your phone" ads, Gutenberg
header/footer) and guess the language.

Leading indentation is kept on purpose: Chinese books often mark paragraphs only by indenting,
and the paragraph splitter downstream relies on it.
"""

from __future__ import annotations

import re
import unicodedata

from nf_skills.contracts import IngestResult
from shared.errors import NFError
from shared.text import CJK, CJK_RE, detect_language

SKILL_ID = "SKILL_01"
VERSION = "1.0.0"

# --- encoding detection ------------------------------------------------------------------

_BOMS: list[tuple[bytes, str, str]] = [
    (b"\xff\xfe\x00\x00", "utf-32-le", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be", "utf-16-be"),
]

# Frequent characters in simplified and in traditional writing (plus classical particles). A
# correct GB or Big5 decoding of Chinese prose is mostly made of these; decoding the bytes with
# the wrong table yields mojibake (kana, box drawing, rare hanzi) that rarely hits the set.
_COMMON_SIMPLIFIED = (
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自"
    "之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些"
    "主样理心她本前开但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正"
    "业外将两高间由问很最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回"
    "特代内信表化老给世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平"
    "系气题活尔更别打女变四神总何电数安少报才结反受目太量再感建务做接必场件计管期市直德资命"
    "山金指克许统区保至队形社便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王象完"
    "设式色路记南品住告类求据程北边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争"
    "运笔飞风步改收根干造言联持组每济车亲极林服快办议往元英士证近失转夫令准布始怎呢存未远叫"
    "台单影具罗字爱击流备兵连调深商算质团集百需价花党华城石级整府离况请技际约示复病息究线似"
    "官火断精满支视消越器容照须九增研写称八功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃"
    "图念六引历首医局突专费号尽另周较注语仅考落青随选列武红响虽推势参希古众构房半节土投某案"
    "黑敌致陈足态护七兴派孩验责营星够章音跟志底站严巴例防族供效续施留讲型料终答紧黄绝奇察母"
    "京段依群项故按河米围江害斗双境客纪采举杀攻父密低朝友诉止细愿千值仍男钱破网热助倒育属坐"
    "帝限船脸职速刻乐否刚威毛状率甚独般普怕弹苦假久错承印晚试拿脑预谁益阳若哪微继送急血惊伤"
    "素药适波夜省初喜卫食险待述陆习置居劳财排福纳欢雷获充负云停木游龙树疑层冷冲射略范竟句室"
    "异激汉村策演简罪判担州静退既衣您宗积余痛检差富灵角占配征修皮挥胜降审沉坚善妈读啊免压银"
    "买皇养怀执副乱抗犯追帮佛岁优怪香田铁左右穿背阵草脚恶块顿敢守酒岛托户烈洋哥索胡靠宝座释"
    "景顾弟登货互付伯慢换闻危忙暗姐介坏讨丽良序升临亮露永呼味野架沙掉鱼杂误吉减肯败屋跑梦散"
    "温困剑渐封救贵枪缺楼县尚毫移娘朋画班智亦耳恩短掌恐遗固席松秘谢遇虑幸均钟诗藏赶剧忽巨旧"
    "端探湖录叶春乡附吸予礼雨呀板庭妇归睛饭额含顺输摇招婚脱补谓毒油旅泽材灭逐莫笑"
    "曰乃矣焉哉兮汝吾尔彼耶罢"
)
_COMMON_TRADITIONAL = (
    "的一是不了在人有我他這個們中來上大為和國地到以說時要就出會可也你對生能而子那得於著下自"
    "之年過發後作裡用道行所然家種事成方多經麼去法學如都同現當沒動面起看定天分還進好小部其些"
    "主樣理心她本前開但因只從想實日軍者意無力它與長把機十民第公此已工使情明性知全三又關點正"
    "業外將兩高間由問很最重並物手應戰向頭文體政美相見被利什二等產或新己制身果加西斯月話合回"
    "特代內信表化老給世位次度門任常先海通教兒原東聲提立及比員解水名真論處走義各入幾口認條平"
    "系氣題活爾更別打女變四神總何電數安少報才結反受目太量再感建務做接必場件計管期市直德資命"
    "山金指克許統區保至隊形社便空決治展馬科司五基眼書非則聽白卻界達光放強即像難且權思王象完"
    "設式色路記南品住告類求據程北邊死張該交規萬取拉格望覺術領共確傳師觀清今切院讓識候帶導爭"
    "運筆飛風步改收根乾造言聯持組每濟車親極林服快辦議往元英士證近失轉夫令準布始怎呢存未遠叫"
    "台單影具羅字愛擊流備兵連調深商算質團集百需價花黨華城石級整府離況請技際約示復病息究線似"
    "官火斷精滿支視消越器容照須九增研寫稱八功嗎包片史委乎查輕易早曾除農找裝廣顯吧阿李標談吃"
    "圖念六引歷首醫局突專費號盡另周較注語僅考落青隨選列武紅響雖推勢參希古眾構房半節土投某案"
    "黑敵致陳足態護七興派孩驗責營星夠章音跟志底站嚴巴例防族供效續施留講型料終答緊黃絕奇察母"
    "京段依群項故按河米圍江害鬥雙境客紀採舉殺攻父密低朝友訴止細願千值仍男錢破網熱助倒育屬坐"
    "帝限船臉職速刻樂否剛威毛狀率甚獨般普怕彈苦假久錯承印晚試拿腦預誰益陽若哪微繼送急血驚傷"
    "素藥適波夜省初喜衛食險待述陸習置居勞財排福納歡雷獲充負雲停木遊龍樹疑層冷衝射略範竟句室"
    "異激漢村策演簡罪判擔州靜退既衣您宗積餘痛檢差富靈角占配征修皮揮勝降審沉堅善媽讀啊免壓銀"
    "買皇養懷執副亂抗犯追幫佛歲優怪香田鐵左右穿背陣草腳惡塊頓敢守酒島託戶烈洋哥索胡靠寶座釋"
    "景顧弟登貨互付伯慢換聞危忙暗姐介壞討麗良序升臨亮露永呼味野架沙掉魚雜誤吉減肯敗屋跑夢散"
    "溫困劍漸封救貴槍缺樓縣尚毫移娘朋畫班智亦耳恩短掌恐遺固席鬆秘謝遇慮幸均鐘詩藏趕劇忽巨舊"
    "端探湖錄葉春鄉附吸予禮雨呀板庭婦歸睛飯額含順輸搖招婚脫補謂毒油旅澤材滅逐莫笑"
)
_COMMON_HANZI = frozenset(_COMMON_SIMPLIFIED + _COMMON_TRADITIONAL)

# C0 controls other than tab, LF, VT, FF, CR; DEL. Text files have none of these.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SCORE_SAMPLE = 200_000  # characters scored when choosing between GB and Big5


def _decode_strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _hanzi_score(text: str) -> float:
    """Share of the ideographs that are common Chinese characters (0 when there are none)."""
    hanzi = CJK_RE.findall(text[:_SCORE_SAMPLE])
    if not hanzi:
        return 0.0
    return sum(1 for h in hanzi if h in _COMMON_HANZI) / len(hanzi)


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    bad = len(_CONTROL_RE.findall(text[:_SCORE_SAMPLE]))
    return bad <= 0.001 * min(len(text), _SCORE_SAMPLE)


_PLAUSIBLE_RE = re.compile(
    f"[\t\n\x20-\x7e\u00a0-\u024f\u2000-\u206f\u3000-\u303f\uff00-\uffef{CJK}]"
)


def _plausibility(text: str) -> float:
    """Share of characters from the blocks novels are written in (ASCII, Latin, CJK, punctuation).
    Decoding UTF-16 with the wrong byte order, or binary as UTF-16, scores low."""
    sample = text[:_SCORE_SAMPLE]
    return len(_PLAUSIBLE_RE.findall(sample)) / max(1, len(sample))


def _utf16_without_bom(data: bytes) -> str | None:
    """The byte order of BOM-less UTF-16 whose decoding reads as text, or None."""
    if len(data) % 2:
        return None
    best: tuple[float, str] | None = None
    for codec in ("utf-16-le", "utf-16-be"):
        text = _decode_strict(data, codec)
        if text is None or not _looks_like_text(text):
            continue
        score = _plausibility(text)
        if best is None or score > best[0]:
            best = (score, codec)
    return best[1] if best is not None and best[0] >= 0.95 else None


def _only_punctuation_beyond_ascii(text: str) -> bool:
    extra = {ch for ch in text if ord(ch) > 0x7F}
    return bool(extra) and all(
        unicodedata.category(ch)[0] in "PSZ" or "\u00c0" <= ch <= "\u024f" for ch in extra
    )


def detect_and_decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name). Raises NF-INPUT-002 for binary or undecodable input."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            text = _decode_strict(data, codec)
            if text is None:
                raise NFError(
                    "NF-INPUT-002", f"the file starts with a {name} mark but is not {name}"
                )
            return text.lstrip("\ufeff"), name
    if b"\x00" in data:
        codec = _utf16_without_bom(data)
        if codec is None:
            raise NFError("NF-INPUT-002", "the file contains NUL bytes: binary, not text")
        return data.decode(codec), codec

    text = _decode_strict(data, "utf-8")
    if text is not None:
        if not _looks_like_text(text):
            raise NFError("NF-INPUT-002", "the file contains control bytes: binary, not text")
        return text, "utf-8"

    # Legacy Chinese encodings: GB18030 (superset of GB2312/GBK) or Big5 (cp950 is Microsoft's
    # Big5, a superset). Many byte strings are valid in both, so score the decodings.
    candidates: list[tuple[float, str, str]] = []
    for codec, name in (("gb18030", "gb18030"), ("cp950", "big5")):
        decoded = _decode_strict(data, codec)
        if decoded is not None and _looks_like_text(decoded):
            candidates.append((_hanzi_score(decoded), name, decoded))
    best = max(candidates, key=lambda c: c[0], default=None)
    if best is not None and best[0] >= 0.2:
        return best[2], best[1]
    # Text without hanzi whose only non-ASCII characters are GB punctuation or accented letters
    # (an English book saved as GB18030: curly quotes, dashes).
    for score, name, decoded in candidates:
        if name == "gb18030" and score == 0 and _only_punctuation_beyond_ascii(decoded):
            return decoded, name
    # Mostly-ASCII text with some Western accented letters (old Gutenberg files): Chinese bytes
    # read as cp1252 would be mostly non-ASCII.
    decoded = _decode_strict(data, "cp1252")
    if decoded is not None and _looks_like_text(decoded):
        extra = [ch for ch in decoded if ord(ch) > 0x7F]
        if len(extra) <= 0.3 * len(decoded) and _only_punctuation_beyond_ascii(decoded):
            return decoded, "cp1252"
    if best is not None:
        return best[2], best[1]
    raise NFError("NF-INPUT-002", "no supported encoding decodes the file")


# --- language ------------------------------------------------------------------------------


# --- normalisation -------------------------------------------------------------------------

_INVISIBLE_RE = re.compile("[\u200b\u200e\u200f\u2060\ufeff\u00ad]")
_ODD_SPACE_RE = re.compile("[\u00a0\u2000-\u200a\u202f\u205f]")
_LINE_BREAKS_RE = re.compile("\r\n|[\r\u2028\u2029\x0b\x0c\x85]")
# Inside a line, a run of whitespace containing an ideographic space is one ideographic space
# (第一章　　标题 -> 第一章　标题); single ASCII spaces stay, they can stand for lost characters.
_IDEO_SPACE_RUN_RE = re.compile("(?<=\\S)[ \t]*\u3000[ \t\u3000]*(?=\\S)")
_BLANK_RUN_RE = re.compile(r"\n{4,}")


def _normalise(text: str) -> str:
    text = _LINE_BREAKS_RE.sub("\n", text)
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE_RE.sub("", text)
    text = _ODD_SPACE_RE.sub(" ", text)
    lines = [_IDEO_SPACE_RUN_RE.sub("\u3000", line.rstrip()) for line in text.split("\n")]
    return "\n".join(lines)


def _collapse_blank_lines(text: str) -> str:
    # at most two blank lines in a row: keeps a scene-break signal, drops layout padding
    return _BLANK_RUN_RE.sub("\n\n\n", text).strip("\n")


# --- boilerplate ---------------------------------------------------------------------------

_TLD = r"(?:com|net|org|cn|cc|info|me|tw|hk|la|co|io|top|xyz|vip|biz|uk|tv)"
_URL_RE = re.compile(
    rf"(?:https?://|www\.)[^\s\u3000，。）)】>》]+"
    rf"|\b[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.{_TLD}\b(?:/[^\s\u3000]*)?"
)
_URL_LABEL_RE = re.compile(r"^(?:网址|地址|官网|域名|首发|本站|url|site|website)?$", re.I)
_AD_WORDS_RE = re.compile(
    r"本站|本书|整理|首发|章节|阅读|访问|手机|记住|下载|电子书|小说|书友|收藏|书签|推荐|"
    r"月票|弹窗|更新|搜索|网址|域名|txt|visit|download|read|ebook|e-book|novel|bookmark|free",
    re.I,
)
_ZH_BANNER_RES = [
    re.compile(p)
    for p in (
        r"本书由.{0,30}(?:整理|提供|制作|收集|首发|上传|扫描|校对|打包)",
        r"(?:更多|最新|全本|精彩|好看|免费)的?.{0,10}(?:小说|好书|章节|内容|电子书)"
        r".{0,10}(?:请|尽在|访问|登录|关注|到)",
        r"手机(?:阅读|用户|看书|访问|版|端)",
        r"(?:最新|全文|全部)章节.{0,20}(?:阅读|访问|请|尽在|首发|更新|网|站|免费|弹窗)",
        r"(?:免费阅读|无弹窗|首发|全文阅读).{0,20}最新章节",
        r"记住.{0,4}(?:本站|本书|本网|网站|我们的?)|记住.{0,4}(?:网址|域名)",
        r"无弹窗|更新最快|最快更新|加入书签|收藏本站|天才一秒|一秒记住",
        r"(?:TXT|txt|Txt)(?:电子书|下载|全集)|下载.{0,8}(?:TXT|txt)",
        r"本[章书](?:未完|完).{0,4}(?:点击|请|翻页)",
    )
]
_BANNER_MAX = 80  # a boilerplate line is short; longer lines are prose and never touched
_STRUCTURE_ONLY_RE = re.compile(r"^[ \t\u3000]*(?:正文|目录|目錄|正文卷)[ \t\u3000]*$")
_STRUCTURE_PREFIX_RE = re.compile(
    r"^([ \t\u3000]*)(?:正文卷|正文|目录|目錄)[ \t\u3000:：]*"
    r"(?=第|楔子|序章|序言|引子|尾声|尾聲|后记|後記|番外|卷[一二三四五六七八九十0-9])"
)
_GUTENBERG_START_RE = re.compile(r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.I)
_GUTENBERG_END_RE = re.compile(r"^\s*\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.I)


def is_boilerplate(line: str) -> bool:
    """True for a site banner / advert / bare URL line; never for a long (prose) line."""
    s = line.strip()
    if not s or len(s) > _BANNER_MAX:
        return False
    if _STRUCTURE_ONLY_RE.match(s):
        return True
    urls = _URL_RE.findall(s)
    if urls:
        rest = _URL_RE.sub("", s)
        rest = re.sub(r"[\W_]+", "", rest)  # punctuation, brackets, spaces
        if _URL_LABEL_RE.match(rest):
            return True
        if _AD_WORDS_RE.search(rest):
            return True
    if CJK_RE.search(s) and len(s) <= 60:
        return any(p.search(s) for p in _ZH_BANNER_RES)
    return False


def strip_boilerplate(text: str) -> tuple[str, int]:
    """(text without boilerplate lines, number of lines removed)."""
    lines = text.split("\n")
    removed = 0
    start_idx = next((i for i, ln in enumerate(lines) if _GUTENBERG_START_RE.match(ln)), None)
    if start_idx is not None:
        removed += start_idx + 1
        lines = lines[start_idx + 1 :]
    end_idx = next((i for i, ln in enumerate(lines) if _GUTENBERG_END_RE.match(ln)), None)
    if end_idx is not None:
        removed += len(lines) - end_idx
        lines = lines[:end_idx]
    kept: list[str] = []
    for line in lines:
        if is_boilerplate(line):
            removed += 1
            continue
        kept.append(_STRUCTURE_PREFIX_RE.sub(r"\1", line))
    return "\n".join(kept), removed


# --- entry point ---------------------------------------------------------------------------


def ingest(data: bytes) -> IngestResult:
    """Decode, normalise and clean an uploaded novel.

    Raises NFError NF-INPUT-004 for empty/whitespace-only input and NF-INPUT-002 for binary or
    undecodable input.
    """
    if not data or not data.strip():
        raise NFError("NF-INPUT-004", "the file is empty")
    raw, encoding = detect_and_decode(data)
    text = _normalise(raw)
    text, removed = strip_boilerplate(text)
    text = _collapse_blank_lines(text)
    if not text.strip():
        raise NFError("NF-INPUT-004", "the file has no text besides whitespace or boilerplate")
    return IngestResult(
        text=text + "\n",
        encoding=encoding,
        language=detect_language(text),
        removed_lines=removed,
        skill_version=VERSION,
    )
