"""SKILL_01 ingest: encodings, normalisation, boilerplate stripping, language, bad input."""

from __future__ import annotations

import random

import pytest

from nf_skills import s01_ingest
from nf_skills.s01_ingest import ingest, is_boilerplate
from shared.errors import NFError
from shared.text import detect_language
from tests.conftest import CORPUS

SIMPLIFIED = (
    "第一回　灵根育孕源流出　心性修持大道生\n"
    "话说那美猴王得了姓名，怡然踊跃，对菩提前作礼启谢。他们来到这里，说时迟那时快，"
    "国王为此发愁。\n"
)
TRADITIONAL = (
    "第一回　靈根育孕源流出　心性修持大道生\n"
    "話說那美猴王得了姓名，怡然踊躍，對菩提前作禮啟謝。他們來到這裡，說時遲那時快，"
    "國王為此發愁。\n"
)


def test_module_identity() -> None:
    assert s01_ingest.SKILL_ID == "SKILL_01"
    assert s01_ingest.VERSION.count(".") == 2


# --- encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "expected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16-le"),  # Python writes a little-endian BOM
        ("utf-16-le", "utf-16-le"),  # no BOM: byte order from the NUL pattern
        ("utf-16-be", "utf-16-be"),
        ("utf-32", "utf-32-le"),
    ],
)
def test_simplified_chinese_in_each_encoding(codec: str, expected: str) -> None:
    r = ingest(SIMPLIFIED.encode(codec))
    assert r.encoding == expected
    assert r.text == SIMPLIFIED
    assert r.language == "zh"


def test_utf16_be_with_bom() -> None:
    r = ingest(b"\xfe\xff" + SIMPLIFIED.encode("utf-16-be"))
    assert (r.encoding, r.text) == ("utf-16-be", SIMPLIFIED)


def test_big5_is_told_apart_from_gbk_by_character_frequency() -> None:
    data = TRADITIONAL.encode("big5")
    # The bytes are valid GB18030 too: only the scorer can pick the right table.
    assert data.decode("gb18030") != TRADITIONAL
    r = ingest(data)
    assert (r.encoding, r.text, r.language) == ("big5", TRADITIONAL, "zh")


def test_gbk_bytes_that_are_also_valid_big5_decode_as_gb() -> None:
    text = "他们来到这里，说时迟那时快。"
    data = text.encode("gbk")
    data.decode("cp950")  # valid Big5 as well (mojibake), so this is the scorer's call
    r = ingest(data)
    assert (r.encoding, r.text) == ("gb18030", text + "\n")


def test_traditional_text_in_gb18030_stays_gb() -> None:
    r = ingest(TRADITIONAL.encode("gb18030"))
    assert (r.encoding, r.text) == ("gb18030", TRADITIONAL)


def test_english_with_curly_quotes_in_gb18030() -> None:
    text = "“Oh dear!” said the Rabbit — où est ma chatte?\n"
    r = ingest(text.encode("gb18030"))
    assert (r.encoding, r.text, r.language) == ("gb18030", text, "en")


def test_latin1_english_falls_back_to_cp1252() -> None:
    text = "“Café au lait,” said the naïve man.\n"
    r = ingest(text.encode("cp1252"))
    assert (r.encoding, r.text) == ("cp1252", text)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  ", "\u3000\n \n".encode("utf-16")])
def test_empty_input_is_nf_input_004(data: bytes) -> None:
    with pytest.raises(NFError) as e:
        ingest(data)
    assert e.value.code == "NF-INPUT-004"


def test_boilerplate_only_is_nf_input_004() -> None:
    with pytest.raises(NFError) as e:
        ingest("https://www.example.com\n手机阅读请访问 m.example.net\n".encode())
    assert e.value.code == "NF-INPUT-004"


def test_png_is_nf_input_002() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    with pytest.raises(NFError) as e:
        ingest(png)
    assert e.value.code == "NF-INPUT-002"


def test_random_bytes_are_nf_input_002() -> None:
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(4000))
    with pytest.raises(NFError) as e:
        ingest(data)
    assert e.value.code == "NF-INPUT-002"


def test_random_bytes_without_nul_are_nf_input_002() -> None:
    rng = random.Random(11)
    data = bytes(rng.randrange(1, 256) for _ in range(4000))
    with pytest.raises(NFError) as e:
        ingest(data)
    assert e.value.code == "NF-INPUT-002"


def test_control_characters_in_utf8_are_nf_input_002() -> None:
    with pytest.raises(NFError) as e:
        ingest(b"abc\x01\x02\x03\x04def\x05\x06" * 50)
    assert e.value.code == "NF-INPUT-002"


def test_bom_that_lies_is_nf_input_002() -> None:
    with pytest.raises(NFError) as e:
        ingest(b"\xef\xbb\xbf" + "正文".encode("gbk"))
    assert e.value.code == "NF-INPUT-002"


# --- normalisation -------------------------------------------------------------------------


def test_line_endings_nfc_invisibles_and_blank_runs() -> None:
    raw = "Cafe\u0301 one  \r\nline two\u200b\rline three\t\r\n\r\n\r\n\r\n\r\n\r\nend\xa0here\r\n"
    r = ingest(raw.encode())
    assert r.text == "Café one\nline two\nline three\n\n\nend here\n"


def test_ideographic_space_runs_inside_a_line_become_one() -> None:
    raw = "第一章　　 开始　\n　　他笑了，说：“好。” \n"
    r = ingest(raw.encode())
    # indentation is kept (paragraph marker), inner runs collapse, trailing spaces go
    assert r.text == "第一章　开始\n　　他笑了，说：“好。”\n"


def test_single_ascii_space_between_hanzi_is_kept() -> None:
    # lost rare characters show up as ASCII spaces: they must not be squeezed out
    r = ingest("第十三回　陷虎穴金星解厄　双 岭伯钦留僧\n".encode())
    assert r.text == "第十三回　陷虎穴金星解厄　双 岭伯钦留僧\n"


# --- boilerplate ---------------------------------------------------------------------------

WEB_DUMP = """本书由某某小说网整理，仅供交流
更多精彩小说请访问 www.example.com
https://www.xxbiquge.com/book/123/
手机阅读请访问 m.example.net
目录
正文 第一章 山村少年
　　清晨，少年推开门，看见远处的山。他想：“今天一定要上山。”
　　他的母亲说道：“小心一些。”手机放在桌上。
最新章节全文阅读
正文卷　第二章　出山
　　少年走出了山村。网址是他在城里第一次听说的东西。
天才一秒记住本站地址：www.abc.la
请记住本书首发域名：biquge.cc。
　　他记住了老人的话，最新章节他没有看。
"""


def test_web_dump_banners_are_stripped_and_counted() -> None:
    r = ingest(WEB_DUMP.encode("gbk"))
    assert r.encoding == "gb18030"
    assert r.removed_lines == 8
    assert r.text == (
        "第一章 山村少年\n"
        "　　清晨，少年推开门，看见远处的山。他想：“今天一定要上山。”\n"
        "　　他的母亲说道：“小心一些。”手机放在桌上。\n"
        "第二章　出山\n"
        "　　少年走出了山村。网址是他在城里第一次听说的东西。\n"
        "　　他记住了老人的话，最新章节他没有看。\n"
    )


@pytest.mark.parametrize(
    "line",
    [
        "他拿出手机，看了一眼最新的消息，然后把手机放回口袋里，继续往前走。",
        "“你记住这个地址了吗？”他问。",
        "Visit the old house at the end of the lane, she said.",
        "He wrote to www at once.",
        "正文开始前，他先读了序言。",
    ],
)
def test_content_lines_are_not_boilerplate(line: str) -> None:
    assert not is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        "www.example.com",
        "【https://m.example.cc/read/1.html】",
        "Read more free novels at www.novelsite.com",
        "本书由书友上传整理",
        "手机用户请浏览阅读",
        "正文",
        "目录",
        "TXT下载：全集",
    ],
)
def test_banner_lines_are_boilerplate(line: str) -> None:
    assert is_boilerplate(line)


def test_gutenberg_header_and_footer_are_stripped() -> None:
    raw = (
        "The Project Gutenberg eBook of Something\nRelease date: 2020\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\n\n"
        "CHAPTER I.\n\nIt began.\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\nLicence text\nmore licence\n"
    )
    r = ingest(raw.encode())
    assert r.text == "CHAPTER I.\n\nIt began.\n"
    assert r.removed_lines == 4 + 4


def test_long_prose_line_with_a_url_is_kept() -> None:
    line = (
        "He typed www.example.com into the old terminal and waited, listening to the rain "
        "against the window for a long while before anything appeared on the screen."
    )
    assert ingest(line.encode()).text == line + "\n"


# --- language ------------------------------------------------------------------------------


def test_language_detection() -> None:
    assert detect_language("It was a dark and stormy night.") == "en"
    assert detect_language("阿Q不独是姓名籍贯有些渺茫，连他先前的“行状”也渺茫。") == "zh"
    assert detect_language("他用iPhone打开了Google Maps，然后出发了。") == "zh"
    assert detect_language("He said “你好” to the man and walked on down the long road.") == "en"


# --- corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("zh_xiyouji.txt", "zh"),
        ("zh_a_q_zhengzhuan.txt", "zh"),
        ("en_alice_in_wonderland.txt", "en"),
        ("en_pride_and_prejudice.txt", "en"),
    ],
)
def test_corpus_ingests_without_losing_content(name: str, language: str) -> None:
    data = (CORPUS / name).read_bytes()
    r = ingest(data)
    assert (r.encoding, r.language, r.removed_lines) == ("utf-8", language, 0)
    assert "\r" not in r.text and "\n\n\n\n" not in r.text
    original = data.decode("utf-8")
    # only whitespace changes: every non-space character survives, in order
    assert "".join(r.text.split()) == "".join(original.split())


def test_corpus_round_trips_through_legacy_encodings() -> None:
    text = ingest((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes()).text
    assert ingest(text.encode("gb18030")).text == text
    assert ingest(text.encode("utf-16-le")).text == text
    big5 = text.encode("cp950", errors="ignore")  # simplified-only characters drop out
    assert ingest(big5).encoding == "big5"
