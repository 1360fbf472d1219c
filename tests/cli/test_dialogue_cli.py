"""`nf dialogue`: the operators' check of SKILL_08 on a file, like `nf chapters`."""

from __future__ import annotations

import json

from nf_cli.main import main
from nf_skills.s01_ingest import ingest
from nf_skills.s02_chapter_split import split_chapters
from tests.conftest import CORPUS

EN_BODY = (
    "Mary Brown walked into the garden with Tom Hale and sat down by the old well.\n\n"
    "“It is a fine morning,” said Mary Brown.\n\n"
    "Tom Hale shook his head. “It will rain before noon,” said Tom Hale.\n\n"
    "The garden was quiet for a long time after that, and the bees went on working.\n\n"
)
EN_BOOK = "".join(f"CHAPTER {r}.\n\n{EN_BODY * 3}" for r in ("I", "II", "III"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _book(tmp_path, text: str = EN_BOOK):
    path = tmp_path / "book.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_dialogue_json_offsets_speakers_rules(tmp_path, capsys):
    path = _book(tmp_path)
    code, out, _ = run(capsys, "dialogue", str(path), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["language"] == "en" and doc["strategy"] == "en_chapter"
    assert {"Mary Brown", "Tom Hale"} <= set(doc["characters"])
    assert [c["index"] for c in doc["chapters"]] == [1, 2, 3]
    chapters = split_chapters(ingest(path.read_bytes()).text, "en").chapters
    for c, body in zip(doc["chapters"], chapters, strict=True):
        assert c["title"] == body.title
        assert [q["speaker"] for q in c["quotes"]] == ["Mary Brown", "Tom Hale"] * 3
        for q in c["quotes"]:
            assert set(q) == {"start", "end", "text", "speaker", "rule", "cue", "confidence"}
            assert q["text"] in body.text[q["start"] : q["end"]]  # offsets into the chapter
            assert q["rule"] == "tag" and q["cue"] == "said"
            assert 0.5 <= q["confidence"] <= 1.0
    assert doc["chapters"][0]["quotes"][0]["text"] == "It is a fine morning,"


def test_dialogue_one_chapter_as_text(tmp_path, capsys):
    code, out, _ = run(capsys, "dialogue", str(_book(tmp_path)), "--chapter", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "language en, 1 chapters, 6 quotes, 6 attributed"
    assert lines[1] == "chapter 2  CHAPTER II.  (6 quotes)"
    assert len(lines) == 8
    assert "Mary Brown" in lines[2] and "tag" in lines[2] and "It is a fine morning," in lines[2]


def test_dialogue_unattributed_quotes_are_listed_with_no_speaker(tmp_path, capsys):
    book = "".join(
        f"第{n}章 雨\n" + "天下着雨，街上没有人，只有风吹着树叶沙沙地响。\n“好冷啊。”\n" * 8
        for n in "一二三"
    )
    code, out, _ = run(capsys, "dialogue", str(_book(tmp_path, book)), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["language"] == "zh" and len(doc["chapters"]) == 3
    q = doc["chapters"][0]["quotes"][0]
    assert (q["text"], q["speaker"], q["rule"], q["confidence"]) == ("好冷啊。", None, None, 0.0)


def test_dialogue_corpus_chapter(capsys):
    path = str(CORPUS / "zh_a_q_zhengzhuan.txt")
    code, out, _ = run(capsys, "dialogue", path, "--chapter", "2", "--json")
    doc = json.loads(out)
    assert code == 0 and [c["index"] for c in doc["chapters"]] == [2]
    quotes = doc["chapters"][0]["quotes"]
    assert quotes and any(q["speaker"] == "阿Q" for q in quotes)
    assert all(q["confidence"] > 0 for q in quotes if q["speaker"])


def test_dialogue_bad_chapter_and_missing_file_one_line_errors(tmp_path, capsys):
    rc, out, err = run(capsys, "dialogue", str(_book(tmp_path)), "--chapter", "9")
    assert rc == 2 and out == ""
    assert err == "error NF-INPUT-010: no chapter 9: the file has 3\n"
    rc, out, err = run(capsys, "dialogue", str(_book(tmp_path)), "--chapter", "9", "--json")
    assert rc == 2 and json.loads(err)["error_code"] == "NF-INPUT-010"
    rc, _, err = run(capsys, "dialogue", "/nonexistent/book.txt")
    assert rc == 2 and err.startswith("error NF-INPUT-010: no such file")
