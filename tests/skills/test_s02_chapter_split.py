"""SKILL_02 chapter_split: the corpus books, then one synthetic book per rule of the cascade."""

from __future__ import annotations

import re

import pytest

from nf_skills import s02_chapter_split
from nf_skills.contracts import ChapterSplit
from nf_skills.s01_ingest import ingest
from nf_skills.s02_chapter_split import split_chapters
from shared.errors import NFError
from tests.conftest import CORPUS

ZH_PARA = "他走在山路上，看见一只猫蹲在石头上，便停下来看了很久。" * 6
EN_PARA = (
    "It was a bright cold day in April, and the clocks were striking thirteen. Winston "
    "Smith slipped quickly through the glass doors of Victory Mansions.\n\n"
) * 3


def _titles(split: ChapterSplit) -> list[str]:
    return [c.title for c in split.chapters]


def _corpus_split(name: str) -> tuple[str, ChapterSplit]:
    r = ingest((CORPUS / name).read_bytes())
    return r.text, split_chapters(r.text, r.language)


def _assert_well_formed(text: str, split: ChapterSplit, heading_line: re.Pattern[str]) -> None:
    chapters = split.chapters
    assert [c.index for c in chapters] == list(range(1, len(chapters) + 1))
    pos = -1
    for c in chapters:
        assert c.text.strip(), f"empty body: {c.title}"
        assert c.title == " ".join(c.title.split())
        found = text.find(c.text[:200], pos + 1)
        assert found > pos, f"body out of order or not from the text: {c.title}"
        pos = found
        for line in c.text.split("\n"):
            assert not heading_line.match(line.strip()), f"{c.title} swallowed {line!r}"


def test_module_identity() -> None:
    assert s02_chapter_split.SKILL_ID == "SKILL_02"
    assert s02_chapter_split.VERSION.count(".") == 2


# --- corpus --------------------------------------------------------------------------------


def test_xiyouji_100_chapters_with_run_in_last_heading() -> None:
    text, split = _corpus_split("zh_xiyouji.txt")
    titles = _titles(split)
    assert split.strategy == "zh_heading:回"
    assert len(titles) == 100
    assert titles[0] == "第一回 灵根育孕源流出 心性修持大道生"
    assert titles[12] == "第十三回 陷虎穴金星解厄 双 岭伯钦留僧"  # lost character kept as a space
    assert titles[51] == "第五十二回 悟空大闹金 洞 如来暗示主人公"
    assert titles[98] == "第九十九回 九九数完魔刬尽 三三行满道归根"
    assert titles[99] == "第一百回 径回东土 五圣成真"
    last = split.chapters[99]
    assert last.text.startswith("且不言他四众脱身，随金刚驾风而起。")
    assert {c.level for c in split.chapters} == {"chapter"}
    _assert_well_formed(text, split, re.compile(r"^第[一二三四五六七八九十百零]+回"))
    # nothing is lost: bodies + headings hold every non-space character of the book
    kept = sum(len("".join(c.text.split())) + len("".join(c.title.split())) for c in split.chapters)
    assert split.front_matter_chars == 0
    assert kept == len("".join(text.split()))


def test_a_q_9_chapters_crlf_and_glued_title() -> None:
    text, split = _corpus_split("zh_a_q_zhengzhuan.txt")
    titles = _titles(split)
    assert titles == [
        "第一章 序",
        "第二章 优胜记略",
        "第三章 续优胜记略",
        "第四章 恋爱的悲剧",
        "第五章 生计问题",
        "第六章 从中兴到末路",
        "第七章 革命",
        "第八章 不准革命",
        "第九章大团圆",
    ]
    assert split.chapters[0].text.lstrip().startswith("我要给阿Q做正传")
    _assert_well_formed(text, split, re.compile(r"^第[一二三四五六七八九十]+章"))


def test_alice_12_chapters_and_contents_list_dropped() -> None:
    text, split = _corpus_split("en_alice_in_wonderland.txt")
    titles = _titles(split)
    assert split.strategy == "en_chapter"
    assert len(titles) == 12
    assert titles[0] == "CHAPTER I. Down the Rabbit-Hole"
    assert titles[6] == "CHAPTER VII. A Mad Tea-Party"
    assert titles[10] == "CHAPTER XI. Who Stole the Tarts?"
    assert titles[11] == "CHAPTER XII. Alice’s Evidence"
    assert split.chapters[0].text.startswith("Alice was beginning to get very tired")
    assert split.front_matter_chars > 0  # title page + contents
    _assert_well_formed(text, split, re.compile(r"^CHAPTER [IVXL]+\."))


def test_pride_and_prejudice_61_chapters() -> None:
    text, split = _corpus_split("en_pride_and_prejudice.txt")
    titles = _titles(split)
    assert split.strategy == "en_chapter"
    assert len(titles) == 61
    assert titles[0] == "Chapter I."  # closes an [Illustration: ...] block
    assert titles[1] == "CHAPTER II."
    assert titles[12] == "CHAPTER XIII"  # no period
    assert titles[13] == "CHAPTER XIV"
    assert titles[45] == "Chapter XLVI."  # mixed case
    assert titles[60] == "CHAPTER LXI."
    assert split.chapters[0].text.startswith("It is a truth universally acknowledged")
    assert "Heading to Chapter" not in "".join(c.text for c in split.chapters[:1])
    _assert_well_formed(text, split, re.compile(r"^\[?(CHAPTER|Chapter) [IVXLC]+\.?\]?$"))


# --- Chinese rules -------------------------------------------------------------------------


def _zh_book(headings: list[str], para: str = ZH_PARA) -> str:
    return "".join(f"{h}\n{para}\n\n" for h in headings)


def test_chinese_numerals_with_zero_two_hundred_thousand() -> None:
    heads = [
        "第九十九章 甲",
        "第一百章 乙",
        "第一百零二章 丙",
        "第两百章 丁",
        "第两千章 戊",
        "第一〇〇一〇章 己",
    ]
    split = split_chapters(_zh_book(heads))
    assert _titles(split) == heads
    assert split.strategy == "zh_heading:章"


def test_fullwidth_and_arabic_digits() -> None:
    heads = ["第１章　开端", "第２章　发展", "第12章 高潮"]
    split = split_chapters(_zh_book(heads))
    assert _titles(split) == ["第１章 开端", "第２章 发展", "第12章 高潮"]


def test_numbers_must_increase_stray_heading_inside_a_chapter_is_body() -> None:
    book = _zh_book(["第一章 开始", "第二章 继续"])
    book += "第九章 旧事\n" + ZH_PARA + "\n" + _zh_book(["第三章 转折", "第四章 结局"])
    split = split_chapters(book)
    assert _titles(split) == ["第一章 开始", "第二章 继续", "第三章 转折", "第四章 结局"]
    assert "第九章 旧事" in split.chapters[1].text


def test_special_headings_prologue_epilogue_extra() -> None:
    book = _zh_book(["楔子", "第一章 开始", "第二章 继续", "尾声", "番外一 小事", "番外二：大事"])
    split = split_chapters(book)
    assert [(c.title, c.level) for c in split.chapters] == [
        ("楔子", "prologue"),
        ("第一章 开始", "chapter"),
        ("第二章 继续", "chapter"),
        ("尾声", "epilogue"),
        ("番外一 小事", "extra"),
        ("番外二：大事", "extra"),
    ]


def test_special_words_in_prose_are_not_headings() -> None:
    book = _zh_book(["第一章 开始", "第二章 继续"])
    book = book.replace(
        ZH_PARA, ZH_PARA + "\n序幕拉开了，众人屏住呼吸。\n尾声里还有一句话，他说。", 1
    )
    split = split_chapters(book)
    assert _titles(split) == ["第一章 开始", "第二章 继续"]
    assert "序幕拉开了" in split.chapters[0].text


def test_heading_without_separator_and_title_on_next_line() -> None:
    split = split_chapters(_zh_book(["第一章大团圆", "第二章\n告别", "第三章"]))
    assert _titles(split) == ["第一章大团圆", "第二章 告别", "第三章"]
    assert split.chapters[1].text == ZH_PARA


def test_run_in_heading_glued_couplet() -> None:
    # the book's headings are couplets, so the glued second phrase has the first one's length
    book = (
        "第一回　灵根育孕　心性修持\n" + ZH_PARA + "\n"
        "第二回　官封弼马　名注齐天\n" + ZH_PARA + "\n"
        "第三回　径回东土　五圣成真且不言他四众脱身，随金刚驾风而起。" + ZH_PARA + "\n\n" + ZH_PARA
    )
    split = split_chapters(book)
    assert _titles(split) == [
        "第一回 灵根育孕 心性修持",
        "第二回 官封弼马 名注齐天",
        "第三回 径回东土 五圣成真",
    ]
    assert split.chapters[2].text == (
        "且不言他四众脱身，随金刚驾风而起。" + ZH_PARA + "\n\n" + ZH_PARA
    )


def test_run_in_heading_after_a_separator() -> None:
    # headings are not couplets here: the body starts at the phrase with sentence punctuation
    book = (
        "第一章　初见\n" + ZH_PARA + "\n"
        "第二章　重逢　她笑了，说：“你好。”" + ZH_PARA + "\n"
        "第三章　大闹天宫　他走进房间，看见一个人。" + ZH_PARA + "\n"
        "第四章　他走进房间，看见一个人。" + ZH_PARA + "\n"
    )
    split = split_chapters(book)
    assert _titles(split) == ["第一章 初见", "第二章 重逢", "第三章 大闹天宫", "第四章"]
    assert split.chapters[1].text.startswith("她笑了，说：“你好。”")
    assert split.chapters[2].text.startswith("他走进房间，看见一个人。")
    assert split.chapters[3].text.startswith("他走进房间，看见一个人。")


def test_prose_starting_with_di_is_not_a_heading() -> None:
    book = _zh_book(["第一章 开始", "第二章 继续"]).replace(
        ZH_PARA, "第三回合，他挥剑而上，对手连退三步。" + ZH_PARA, 1
    )
    split = split_chapters(book)
    assert _titles(split) == ["第一章 开始", "第二章 继续"]


def test_volumes_are_parts_not_chapters() -> None:
    book = (
        "第一卷 风起\n"
        + _zh_book(["第一章 甲", "第二章 乙"])
        + "第二卷 云涌\n"
        + _zh_book(["第三章 丙"])
    )
    split = split_chapters(book)
    assert [(c.title, c.part) for c in split.chapters] == [
        ("第一章 甲", "第一卷 风起"),
        ("第二章 乙", "第一卷 风起"),
        ("第三章 丙", "第二卷 云涌"),
    ]
    assert "第二卷" not in split.chapters[1].text


def test_part_and_chapter_on_one_line() -> None:
    book = _zh_book(
        ["第一卷 风起 第一章 少年", "第一卷 风起 第二章 出山", "第二卷　云涌　第三章　入世"]
    )
    split = split_chapters(book)
    assert [(c.title, c.part) for c in split.chapters] == [
        ("第一章 少年", "第一卷 风起"),
        ("第二章 出山", "第一卷 风起"),
        ("第三章 入世", "第二卷 云涌"),
    ]


def test_volumes_become_chapters_when_there_are_no_chapters() -> None:
    split = split_chapters(_zh_book(["第一卷 风起", "第二卷 云涌", "卷三 归来"]))
    assert split.strategy == "zh_part"
    assert _titles(split) == ["第一卷 风起", "第二卷 云涌", "卷三 归来"]


def test_sections_inside_chapters_do_not_win() -> None:
    book = ""
    for ch in ["第一章 甲", "第二章 乙"]:
        book += ch + "\n" + _zh_book(["第一节 上", "第二节 中", "第三节 下"])
    split = split_chapters(book)
    assert split.strategy == "zh_heading:章"
    assert _titles(split) == ["第一章 甲", "第二章 乙"]


def test_chinese_table_of_contents_is_dropped() -> None:
    heads = ["第一章 出山", "第二章 入世", "第三章 归隐"]
    book = "目录\n" + "\n".join(heads) + "\n\n" + _zh_book(heads)
    split = split_chapters(book)
    assert _titles(split) == heads
    assert split.chapters[0].text == ZH_PARA


def test_short_contents_repeating_two_headings_is_dropped() -> None:
    heads = ["第一章 出山", "第二章 入世"]
    book = "\n".join(heads) + "\n作者：某人\n\n" + _zh_book(heads)
    split = split_chapters(book)
    assert _titles(split) == heads
    assert all(c.text == ZH_PARA for c in split.chapters)


def test_traditional_headings() -> None:
    split = split_chapters(_zh_book(["第一節 開始", "第二節 繼續", "第三節 結束"]))
    assert split.strategy == "zh_heading:节"
    assert len(split.chapters) == 3


# --- English rules -------------------------------------------------------------------------


def _en_book(headings: list[str], para: str = EN_PARA) -> str:
    return "".join(f"{h}\n\n{para}" for h in headings)


def test_english_number_words_and_ordinals() -> None:
    heads = ["Chapter One", "Chapter Two", "Chapter Twenty-One", "CHAPTER THE TWENTY-SECOND."]
    split = split_chapters(_en_book(heads))
    assert split.strategy == "en_chapter"
    assert _titles(split) == heads


def test_english_arabic_with_title_on_same_line() -> None:
    heads = ["Chapter 1: The Start", "Chapter 2 - The Middle", "Chapter 3. The End"]
    split = split_chapters(_en_book(heads))
    assert _titles(split) == heads


def test_english_title_on_next_line_or_after_a_blank() -> None:
    book = (
        "CHAPTER I.\nDown the Hole\n\n" + EN_PARA + "CHAPTER II.\n\nTHE POOL OF TEARS\n\n" + EN_PARA
    )
    book += "CHAPTER III.\n\n" + EN_PARA
    split = split_chapters(book)
    assert _titles(split) == [
        "CHAPTER I. Down the Hole",
        "CHAPTER II. THE POOL OF TEARS",
        "CHAPTER III.",
    ]
    assert split.chapters[2].text.startswith("It was a bright cold day")


def test_first_paragraph_is_not_mistaken_for_a_title() -> None:
    book = _en_book(["CHAPTER I", "CHAPTER II"], "“Yes.”\n\n" + EN_PARA)
    split = split_chapters(book)
    assert _titles(split) == ["CHAPTER I", "CHAPTER II"]
    assert split.chapters[0].text.startswith("“Yes.”")


def test_roman_dot_title_style() -> None:
    heads = ["I. A SCANDAL IN BOHEMIA", "II. THE RED-HEADED LEAGUE", "III. A CASE OF IDENTITY"]
    split = split_chapters("THE ADVENTURES\n\n" + _en_book(heads))
    assert split.strategy == "en_roman_title"
    assert _titles(split) == heads


def test_bare_roman_numerals() -> None:
    split = split_chapters(_en_book(["I", "II", "III", "IV."]))
    assert split.strategy == "en_bare_roman"
    assert _titles(split) == ["I", "II", "III", "IV."]


def test_letters() -> None:
    split = split_chapters(_en_book(["LETTER I", "LETTER II", "Letter 3"]))
    assert split.strategy == "en_letter"
    assert _titles(split) == ["LETTER I", "LETTER II", "Letter 3"]


def test_letters_before_chapters_are_kept_as_prologue() -> None:
    split = split_chapters(
        _en_book(["Letter 1", "Letter 2", "Chapter 1", "Chapter 2", "Chapter 3"])
    )
    assert split.strategy == "en_chapter"
    assert [c.level for c in split.chapters] == ["prologue"] * 2 + ["chapter"] * 3


def test_parts_and_books_with_renumbered_chapters() -> None:
    book = "PART ONE\n\n" + _en_book(["CHAPTER I", "CHAPTER II"])
    book += "PART TWO: The Return\n\n" + _en_book(["CHAPTER I", "CHAPTER II", "CHAPTER III"])
    split = split_chapters(book)
    assert [(c.title, c.part) for c in split.chapters] == [
        ("CHAPTER I", "PART ONE"),
        ("CHAPTER II", "PART ONE"),
        ("CHAPTER I", "PART TWO: The Return"),
        ("CHAPTER II", "PART TWO: The Return"),
        ("CHAPTER III", "PART TWO: The Return"),
    ]
    assert "PART TWO" not in split.chapters[1].text


def test_books_become_chapters_when_there_are_no_chapters() -> None:
    split = split_chapters(_en_book(["BOOK I", "BOOK II", "BOOK III"]))
    assert split.strategy == "en_part"
    assert _titles(split) == ["BOOK I", "BOOK II", "BOOK III"]


def test_prologue_and_epilogue() -> None:
    split = split_chapters(_en_book(["Prologue", "Chapter 1", "Chapter 2", "EPILOGUE"]))
    assert [(c.title, c.level) for c in split.chapters] == [
        ("Prologue", "prologue"),
        ("Chapter 1", "chapter"),
        ("Chapter 2", "chapter"),
        ("EPILOGUE", "epilogue"),
    ]


def test_contents_with_titles_and_page_numbers_is_dropped() -> None:
    toc = "Contents\n\n" + "\n".join(
        f"   Chapter {n}. {t} ........ {p}"
        for n, t, p in [(1, "Going Out", 1), (2, "Coming Back", 9), (3, "Home", 20)]
    )
    heads = ["Chapter 1. Going Out", "Chapter 2. Coming Back", "Chapter 3. Home"]
    split = split_chapters(toc + "\n\n\n" + _en_book(heads))
    assert _titles(split) == heads
    assert split.front_matter_chars > 0


def test_contents_where_every_entry_has_a_blurb_is_dropped_as_a_run() -> None:
    toc = "".join(f"CHAPTER {r}. A short blurb about it.\n\n" for r in ["I", "II", "III", "IV"])
    body = _en_book(["CHAPTER I.", "CHAPTER II.", "CHAPTER III.", "CHAPTER IV."])
    split = split_chapters(toc + body)
    assert len(split.chapters) == 4
    assert all(c.text == EN_PARA.strip("\n") for c in split.chapters)


def test_prose_mentioning_chapters_is_not_a_heading() -> None:
    text = "Chapter 5 describes how the\nclocks work.\n\n" + EN_PARA * 4
    split = split_chapters(text)
    assert split.strategy == "size_fallback"


def test_illustration_block_closing_bracket() -> None:
    book = "[Illustration: TITLE\n\nChapter I.]\n\n" + EN_PARA + "CHAPTER II.\n\n" + EN_PARA
    split = split_chapters(book)
    assert _titles(split) == ["Chapter I.", "CHAPTER II."]


# --- fallback and errors -------------------------------------------------------------------


def test_size_fallback_splits_at_paragraphs() -> None:
    text = EN_PARA * 150  # ~67k chars, no headings
    split = split_chapters(text, "en")
    assert split.strategy == "size_fallback"
    assert len(split.chapters) >= 3
    assert [c.title for c in split.chapters[:2]] == ["Part 1", "Part 2"]
    for c in split.chapters:
        assert c.text.startswith("It was a bright cold day")  # cut at paragraph starts
        assert c.text.endswith("Victory Mansions.")
    assert "\n\n".join(c.text for c in split.chapters) == text.strip("\n")  # nothing lost


def test_size_fallback_chinese_line_per_paragraph() -> None:
    text = "\n".join([ZH_PARA] * 200)
    split = split_chapters(text)
    assert split.strategy == "size_fallback"
    assert split.chapters[0].title == "第1部分"
    assert len(split.chapters) >= 3
    assert "\n".join(c.text for c in split.chapters) == text


def test_single_heading_falls_back() -> None:
    split = split_chapters("第一章 唯一\n" + "\n".join([ZH_PARA] * 10))
    assert split.strategy == "size_fallback"
    assert len(split.chapters) == 1


def test_a_few_headings_at_the_start_of_a_long_book_fall_back() -> None:
    book = _en_book(["Chapter 1", "Chapter 2"]) + EN_PARA * 200  # the rest has no headings
    assert split_chapters(book).strategy == "size_fallback"


@pytest.mark.parametrize("text", ["", "  \n\u3000\n"])
def test_empty_text_is_nf_input_004(text: str) -> None:
    with pytest.raises(NFError) as e:
        split_chapters(text)
    assert e.value.code == "NF-INPUT-004"


def test_numbered_sections_inside_chapters_do_not_win() -> None:
    book = ""
    for ch in ["CHAPTER I.", "CHAPTER II.", "CHAPTER III."]:
        book += ch + "\n\n" + _en_book(["I", "II", "III", "IV"])
    split = split_chapters(book)
    assert split.strategy == "en_chapter"
    assert _titles(split) == ["CHAPTER I.", "CHAPTER II.", "CHAPTER III."]
    assert split.chapters[0].text.startswith("I\n\nIt was a bright cold day")


def test_crlf_text_is_accepted() -> None:
    split = split_chapters(_zh_book(["第一章 甲", "第二章 乙"]).replace("\n", "\r\n"))
    assert _titles(split) == ["第一章 甲", "第二章 乙"]
    assert "\r" not in split.chapters[0].text


def test_contents_list_at_the_end_is_cut_from_the_last_chapter() -> None:
    book = _en_book(["Chapter 1", "Chapter 2", "Chapter 3"])
    book += "\nContents\n" + "\n".join(f"Chapter {n}" for n in (1, 2, 3)) + "\n"
    split = split_chapters(book)
    assert _titles(split) == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert split.chapters[2].text == EN_PARA.strip("\n")


def test_duplicated_heading_line_at_chapter_start() -> None:
    # web dumps often repeat the heading as the first line of the chapter
    book = "".join(f"第{n}章 标题{n}\n\n第{n}章 标题{n}\n{ZH_PARA}\n" for n in "一二三")
    split = split_chapters(book)
    assert _titles(split) == ["第一章 标题一", "第二章 标题二", "第三章 标题三"]
    assert all(c.text == ZH_PARA for c in split.chapters)


# --- issue 12 shapes: contents lists, collections, parts, mislabels, web-dump prefixes ----------


@pytest.mark.parametrize(
    ("name", "count", "strategy"),
    [
        ("zh_xiyouji.txt", 100, "zh_heading:回"),
        ("zh_a_q_zhengzhuan.txt", 9, "zh_heading:章"),
        ("en_alice_in_wonderland.txt", 12, "en_chapter"),
        ("en_pride_and_prejudice.txt", 61, "en_chapter"),
    ],
)
def test_corpus_chapter_counts_are_pinned(name: str, count: int, strategy: str) -> None:
    _, split = _corpus_split(name)
    assert (len(split.chapters), split.strategy) == (count, strategy)


STORIES = ["A Scandal in Bohemia", "The Red-Headed League", "A Case of Identity", "The Five Pips"]
ROMANS = ["I", "II", "III", "IV"]


def _collection(with_sections: bool) -> str:
    toc = "THE ADVENTURES\n\nby Someone\n\n\nContents\n\n"
    toc += "\n".join(
        f"   {r}.{' ' * (7 - len(r))}{t}" for r, t in zip(ROMANS, STORIES, strict=True)
    )
    book = toc + "\n\n\n\n"
    for i, (r, t) in enumerate(zip(ROMANS, STORIES, strict=True)):
        book += f"{r}. {t.upper()}\n\n\n"
        if with_sections and i in (0, 2):
            book += "".join(f"{s}.\n\n\n{EN_PARA}" for s in ROMANS[:3])
        else:
            book += EN_PARA * 2
    return book


@pytest.mark.parametrize("with_sections", [False, True])
def test_story_collection_contents_and_roman_title_headings(with_sections: bool) -> None:
    # the first contents entry is itself an `I. Title` line: its "body" is the rest of the list
    split = split_chapters(_collection(with_sections))
    assert split.strategy == "en_roman_title"
    assert _titles(split) == [f"{r}. {t.upper()}" for r, t in zip(ROMANS, STORIES, strict=True)]
    assert "Contents" not in split.chapters[0].text
    if with_sections:  # numbered sections restart inside each story: they stay in the body
        assert split.chapters[0].text.startswith("I.\n\n\nIt was a bright cold day")


def _bare(nums: list[str]) -> str:
    return "".join(f"{n}\n\n{EN_PARA}" for n in nums)


def test_parts_with_bare_roman_numerals_and_a_mislabelled_numeral() -> None:
    book = "PART ONE\n\n" + _bare(["I", "II", "III", "V", "V", "VI"])
    book += "PART TWO\n\n" + _bare(["I", "II", "II", "IV"])
    split = split_chapters(book)
    assert split.strategy == "en_bare_roman"
    assert [(c.title, c.part) for c in split.chapters] == [
        *[(t, "PART ONE") for t in ["I", "II", "III", "V", "V", "VI"]],
        *[(t, "PART TWO") for t in ["I", "II", "II", "IV"]],
    ]


def test_a_swapped_numeral_where_the_next_chapter_should_be_is_kept() -> None:
    book = "PART I\n\n" + _bare(["I.", "II.", "III."]) + "PART II\n\n"
    book += _bare(["I.", "II.", "III.", "IV.", "IX.", "VI."])
    assert len(split_chapters(book).chapters) == 9
    zh = _zh_book(["第一章 甲", "第二章 乙", "第二章 丙", "第四章 丁"])  # 丙 is chapter 3
    assert _titles(split_chapters(zh)) == ["第一章 甲", "第二章 乙", "第二章 丙", "第四章 丁"]


ZH_HEADS = ["第一章 出山", "第二章 入世", "第三章 归隐", "第四章 重逢"]


@pytest.mark.parametrize(
    ("toc", "heading"),
    [
        ("目录\n\n" + "\n".join(f"正文 {h}" for h in ZH_HEADS) + "\n\n正文\n\n", "{h}"),
        ("目录\n" + "\n\n".join(f"某某小说 {h}" for h in ZH_HEADS) + "\n\n", "某某小说 {h}"),
        ("目录\n\n" + "".join(f"{h}　　（字数：3000）\n\n" for h in ZH_HEADS), "{h}"),
        ("目录\n" + "\n".join(f"1、{h}" for h in ZH_HEADS) + "\n作者：某人\n\n", "{h}"),
    ],
    ids=["prefixed-list", "book-title-prefix-everywhere", "word-counts", "numbered-list"],
)
def test_web_dump_contents_list_of_any_shape(toc: str, heading: str) -> None:
    book = "某某小说\n作者：某人\n\n" + toc
    book += "".join(f"{heading.format(h=h)}\n{ZH_PARA}\n\n" for h in ZH_HEADS)
    split = split_chapters(book)
    assert _titles(split) == ZH_HEADS
    assert all(c.text == ZH_PARA for c in split.chapters)
    assert split.front_matter_chars > 0


def test_prefixed_and_variant_chinese_headings() -> None:
    heads = ["正文 第1章 出山", "正文 第2章 入世", "正文　第3章　归隐"]
    split = split_chapters(_zh_book(heads))
    assert _titles(split) == ["第1章 出山", "第2章 入世", "第3章 归隐"]
    split = split_chapters(
        _zh_book(["【第1章】出山", "第 2 章 入世", "第03章：归隐", "第4章.重逢"])
    )
    assert _titles(split) == ["【第1章】出山", "第 2 章 入世", "第03章：归隐", "第4章.重逢"]


def test_prose_with_di_after_a_phrase_is_not_a_prefixed_heading() -> None:
    book = _zh_book(["第一章 开始", "第二章 继续"]).replace(
        ZH_PARA, "他说 第三章，写得不好，不如重写。\n" + ZH_PARA, 1
    )
    split = split_chapters(book)
    assert _titles(split) == ["第一章 开始", "第二章 继续"]


def test_english_contents_with_page_numbers_and_other_case() -> None:
    toc = "CONTENTS\n\n" + "".join(
        f"CHAPTER {r}. {t.upper()} .... {p}\n"
        for r, t, p in zip(ROMANS, STORIES, (1, 9, 20, 31), strict=True)
    )
    heads = [f"Chapter {r}. {t}" for r, t in zip(ROMANS, STORIES, strict=True)]
    split = split_chapters(toc + "\n\n" + _en_book(heads))
    assert _titles(split) == heads


def test_adventure_and_stave_keywords_number_chapters() -> None:
    toc = "Contents\n\n" + "\n".join(
        f"   {r}.     {t}" for r, t in zip(ROMANS, STORIES, strict=True)
    )
    book = (
        toc
        + "\n\n\n"
        + "".join(
            f"ADVENTURE {r}. {t.upper()}\n\n\n{EN_PARA * 2}"
            for r, t in zip(ROMANS, STORIES, strict=True)
        )
    )
    split = split_chapters(book)
    assert split.strategy == "en_chapter"
    assert _titles(split) == [
        f"ADVENTURE {r}. {t.upper()}" for r, t in zip(ROMANS, STORIES, strict=True)
    ]
    carol = "".join(f"STAVE {w}\n\n{EN_PARA * 2}" for w in ("ONE", "TWO", "THREE"))
    assert _titles(split_chapters(carol)) == ["STAVE ONE", "STAVE TWO", "STAVE THREE"]


def test_bare_arabic_numerals_in_parts_and_a_repeated_numeral() -> None:
    book = "PART ONE\n\n" + "".join(f"{n}\n\n{EN_PARA * 2}" for n in ("1", "2", "3", "3"))
    book += "PART TWO\n\n" + "".join(f"{n}\n\n{EN_PARA * 2}" for n in ("5", "6"))
    split = split_chapters(book)
    assert split.strategy == "en_bare_number"
    assert [(c.title, c.part) for c in split.chapters] == [
        *[(t, "PART ONE") for t in ("1", "2", "3", "3")],
        *[(t, "PART TWO") for t in ("5", "6")],
    ]
    # a number inside a paragraph, or a year on its own line in a chapter, is no heading
    prose = _en_book(["Chapter 1", "Chapter 2"]).replace(EN_PARA, EN_PARA + "1851\n\n", 1)
    assert _titles(split_chapters(prose)) == ["Chapter 1", "Chapter 2"]
