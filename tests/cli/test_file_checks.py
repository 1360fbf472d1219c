"""`nf chapters` and `nf characters`: how operators check a file before submitting it."""

from __future__ import annotations

import json

import pytest

from nf_cli.main import main
from tests.conftest import CORPUS


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_chapters_json(capsys):
    code, out, _ = run(capsys, "chapters", str(CORPUS / "en_alice_in_wonderland.txt"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["encoding"].startswith("utf-8") and doc["language"] == "en"
    assert [c["index"] for c in doc["chapters"]] == list(range(1, 13))
    assert doc["chapters"][0]["title"] == "CHAPTER I. Down the Rabbit-Hole"
    assert all(c["chars"] > 1000 for c in doc["chapters"])


def test_chapters_of_a_gbk_file(tmp_path, capsys):
    text = (CORPUS / "zh_a_q_zhengzhuan.txt").read_text(encoding="utf-8")
    path = tmp_path / "aq-gbk.txt"
    path.write_bytes(text.encode("gb18030"))
    code, out, _ = run(capsys, "chapters", str(path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["encoding"] == "gb18030" and len(doc["chapters"]) == 9


def test_characters_json_merges_aliases(capsys):
    code, out, _ = run(
        capsys, "characters", str(CORPUS / "zh_a_q_zhengzhuan.txt"), "--top", "5", "--json"
    )
    doc = json.loads(out)
    assert code == 0 and len(doc["characters"]) == 5
    top = doc["characters"][0]
    assert top["name"] == "阿Q" and top["mentions"] >= 250


@pytest.mark.parametrize(
    ("content", "code"),
    [(bytes(range(256)) * 8, "NF-INPUT-002"), (b"   \n\n ", "NF-INPUT-004")],
)
def test_bad_files_get_their_error_code(tmp_path, capsys, content, code):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    rc, out, err = run(capsys, "chapters", str(path), "--json")
    assert rc == 2 and out == ""
    assert json.loads(err)["error_code"] == code


def test_missing_file(capsys):
    rc, _, err = run(capsys, "characters", "/nonexistent/book.txt")
    assert rc == 2 and err == "error NF-INPUT-010: no such file: /nonexistent/book.txt\n"
    rc, _, err = run(capsys, "characters", "/nonexistent/book.txt", "--json")
    assert rc == 2 and json.loads(err)["error_code"] == "NF-INPUT-010"
