"""The admission policy (nf_services.admission) on real bytes: sizes, empty files, books without
headings, a book on one line, text left out of every chapter, and the corpus novels admitted."""

from __future__ import annotations

import uuid

import pytest

from nf_services import admission
from nf_services.admission import MAX_CHAPTER_CHARS, admit, assess, check_size
from shared.errors import REGISTRY, NFError
from tests.conftest import CORPUS

PARA = "The sailor told a long story about the sea, the wind and the boats of the harbour. " * 6


def book(preface_paras: int = 0, chapters: int = 3, paras: int = 8) -> bytes:
    parts = [PARA.strip()] * preface_paras
    for i in range(1, chapters + 1):
        parts += [f"Chapter {i}", *[PARA.strip()] * paras]
    return "\n\n".join(parts).encode()


def refused(data: bytes, limit: int | None = None) -> NFError:
    with pytest.raises(NFError) as exc:
        admit(data, limit)
    return exc.value


def test_new_codes_are_registered():
    for code in ("NF-INPUT-011", "NF-INPUT-012", "NF-INPUT-013"):
        assert REGISTRY[code].http_status == 422


@pytest.mark.parametrize(
    ("name", "chapters", "warnings"),
    [
        ("en_alice_in_wonderland.txt", 12, []),
        ("en_pride_and_prejudice.txt", 61, ["NF-INPUT-012"]),  # its 4% preface is in no chapter
        ("zh_a_q_zhengzhuan.txt", 9, []),
        ("zh_xiyouji.txt", 100, []),
    ],
)
def test_every_corpus_novel_is_admitted(name, chapters, warnings):
    a = admit((CORPUS / name).read_bytes())
    assert a.chapters == chapters and a.strategy != admission.SIZE_FALLBACK
    assert [w.code for w in a.warnings] == warnings
    assert a.left_out_share <= admission.MAX_LEFT_OUT_SHARE
    assert a.largest_chapter < MAX_CHAPTER_CHARS / 5


def test_size_limit_is_checked_first_with_a_readable_message():
    limit = 20 * 1024 * 1024
    with pytest.raises(NFError) as exc:
        check_size(50 * 1024 * 1024 + 1, limit)
    assert exc.value.code == "NF-INPUT-003"
    assert exc.value.detail.startswith("the file is 50.0 MiB (52,428,801 bytes); the limit is 20.0")
    check_size(limit, limit)  # exactly the limit is allowed
    # over the limit wins over every other problem: binary bytes are not even decoded
    assert refused(b"\x00\x01" * 600, limit=1000).code == "NF-INPUT-003"
    assert refused(book(), limit=len(book()) - 1).code == "NF-INPUT-003"
    assert admit(book(), limit=len(book())).chapters == 3


def test_the_default_limit_is_the_setting(monkeypatch):
    from shared.config import get_settings

    monkeypatch.setenv("NF_UPLOAD_MAX_BYTES", "1000")
    get_settings.cache_clear()
    try:
        err = refused(book())
        assert err.code == "NF-INPUT-003" and "1,000 bytes" in err.detail
    finally:
        monkeypatch.delenv("NF_UPLOAD_MAX_BYTES")
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "data", [b"", b"   \n\t\n ", "\u3000\n".encode(), b"www.example.com\n\nhttp://a.example.org\n"]
)
def test_empty_or_no_usable_text(data):
    assert refused(data).code == "NF-INPUT-004"


def test_binary_is_not_text():
    assert refused(bytes(range(256)) * 8).code == "NF-INPUT-002"


def test_no_headings_is_admitted_with_a_warning():
    text = "\n\n".join([PARA.strip()] * 40).encode()
    a = admit(text)
    assert a.strategy == admission.SIZE_FALLBACK and a.chapters >= 1
    [w] = a.warnings
    assert w.code == "NF-INPUT-013" and "no chapter headings" in w.message
    assert w.line().startswith("warning NF-INPUT-013: ")


def test_a_book_on_one_line_is_refused():
    # 5 MB on ONE line: the size fallback cannot cut it, one chapter would hold all of it
    data = ("他走到海边，望着远方的船，想起了很多年前的事情。" * 70_000).encode()
    assert len(data) > 5_000_000 and data.count(b"\n") == 0
    err = refused(data)
    assert err.code == "NF-INPUT-011"
    assert f"the limit is {MAX_CHAPTER_CHARS:,}" in err.detail and "line breaks" in err.detail


def test_a_giant_chapter_between_headings_is_refused():
    data = book(chapters=3, paras=600)  # ~256k characters per chapter
    err = refused(data)
    assert err.code == "NF-INPUT-011" and "'Chapter 1'" in err.detail


def test_text_left_out_of_every_chapter():
    assert admit(book(preface_paras=0)).warnings == ()
    warned = admit(book(preface_paras=1))  # ~4% before chapter 1
    assert [w.code for w in warned.warnings] == ["NF-INPUT-012"]
    assert 0.02 < warned.left_out_share < 0.1
    err = refused(book(preface_paras=3))  # ~11%
    assert err.code == "NF-INPUT-012" and "in no chapter" in err.detail


def test_assess_is_the_pure_policy():
    class Ch:
        def __init__(self, title: str, text: str) -> None:
            self.title, self.text = title, text

    ok = assess(
        data=b"x",
        text="A\nbody one\nB\nbody two\n",
        encoding="utf-8",
        language="en",
        chapters=[Ch("A", "body one"), Ch("B", "body two")],
        strategy="en_chapter",
    )
    assert ok.chapters == 2 and ok.left_out_share == 0 and ok.warnings == ()
    with pytest.raises(NFError) as exc:
        assess(data=b"x", text="some text", encoding="utf-8", language="en", chapters=[],
               strategy="size_fallback")  # fmt: skip
    assert exc.value.code == "NF-INPUT-009"


@pytest.mark.pg
def test_register_novel_admits_before_writing(engine, tmp_path):
    from sqlalchemy import func, select

    from nf_services.novels import ensure_tenant_project, register_novel
    from shared.models import Base
    from shared.storage import LocalArtifactStore

    novels = Base.metadata.tables["novels"]
    tenant = f"adm{uuid.uuid4().hex[:8]}"
    ensure_tenant_project(engine, tenant, "books")
    store = LocalArtifactStore(tmp_path / "artifacts")
    kw = dict(tenant_id=tenant, project_id="books", title="t", trace_id=uuid.uuid4().hex)
    for slug, data, code in (
        ("one-line", ("很长的一行。" * 40_000).encode(), "NF-INPUT-011"),
        ("blank", b"  \n", "NF-INPUT-004"),
        ("preface", book(preface_paras=3), "NF-INPUT-012"),
    ):
        with pytest.raises(NFError) as exc:
            register_novel(engine, store, slug=slug, data=data, **kw)
        assert exc.value.code == code
    assert not list((tmp_path / "artifacts").rglob("*.txt"))
    aq = (CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes()
    novel = register_novel(engine, store, slug="aq", data=aq, **kw)
    assert novel.created
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(novels).where(novels.c.tenant_id == tenant)
        ).scalar()
    assert n == 1 and len(list((tmp_path / "artifacts").rglob("*.txt"))) == 1
