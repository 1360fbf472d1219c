from __future__ import annotations

import random
import re

import pytest

from nf_cli import docs
from shared import errors
from shared.errors import NFError
from shared.retry import NO_RETRY, call_with_retry, policy_for
from shared.slugs import PartitionKey, slugify, validate_slug
from shared.storage import LocalArtifactStore


def test_registry_codes_are_well_formed_and_unique():
    for code, err in errors.REGISTRY.items():
        assert re.fullmatch(r"NF-[A-Z]+-\d{3}", code)
        assert code.split("-")[1] == err.domain.value
        assert 400 <= err.http_status < 600 and err.message
    with pytest.raises(KeyError):
        errors.get("NF-INPUT-999")


def test_store_is_content_addressed_and_refuses_traversal(tmp_path):
    store = LocalArtifactStore(tmp_path / "root")
    a = store.put_bytes(b"hello", "txt")
    b = store.put_bytes(b"hello", "txt")
    assert a == b and store.open_bytes(a.path) == b"hello"
    assert len(list((tmp_path / "root").rglob("*.txt"))) == 1
    (tmp_path / "secret").write_text("x")
    for bad in ("../secret", "/etc/passwd", "ab/../../secret", "", "a\x00b"):
        with pytest.raises(NFError) as exc:
            store.resolve(bad)
        assert exc.value.code == "NF-STORAGE-001"
    with pytest.raises(NFError) as exc:
        store.open_bytes("ab/missing.txt")
    assert exc.value.code == "NF-STORAGE-002"
    with pytest.raises(NFError):
        store.put_bytes(b"x", "../sh")


def test_retry_backs_off_for_retryable_codes_only():
    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise NFError("NF-PROVIDER-001", retry_after=2)
        return "ok"

    assert call_with_retry(flaky, sleep=waits.append) == "ok"
    assert len(calls) == 3 and all(w >= 2 for w in waits)  # Retry-After is a floor

    fatal = []

    def broken():
        fatal.append(1)
        raise NFError("NF-PROVIDER-004")

    with pytest.raises(NFError):
        call_with_retry(broken, sleep=waits.append)
    assert len(fatal) == 1 and policy_for("NF-PROVIDER-004") is NO_RETRY


def test_backoff_is_bounded_exponential_jitter():
    pol = policy_for("NF-PROVIDER-002")
    rng = random.Random(7)
    for attempt in range(1, 8):
        cap = min(pol.max_delay, pol.base_delay * pol.multiplier ** (attempt - 1))
        assert all(0 <= pol.delay(attempt, rng) <= cap for _ in range(50))


@pytest.mark.parametrize("key", ["acme.fantasy.xiyouji", "a.b.c", "t-1.p_2.n-3"])
def test_partition_keys_round_trip(key):
    assert str(PartitionKey.parse(key)) == key


@pytest.mark.parametrize(
    "key",
    [
        "acme.fantasy",
        "a.b.c.d",
        "A.b.c",
        "a,b.c.d",
        "a.b.c|d",
        "a.b.[c]",
        'a.b.{"x":1}',
        "a.b.../etc",
        "a.b.c; drop",
    ],
)
def test_bad_partition_keys_are_refused(key):
    with pytest.raises(NFError) as exc:
        PartitionKey.parse(key)
    assert exc.value.code == "NF-INPUT-005"


def test_slugs():
    assert slugify("Alice's Adventures in Wonderland") == "alice-s-adventures-in-wonderland"
    assert slugify("西游记") == "novel"
    with pytest.raises(NFError) as exc:
        validate_slug("Robert'); DROP TABLE", "tenant")
    assert exc.value.code == "NF-INPUT-006"


def test_generated_docs_have_not_drifted():
    assert docs.drifted() == [], "run `nf docs` and commit docs/architecture"


def test_skills_guide_lists_every_skill():
    from nf_cli.docs import skills_guide

    rows = [line for line in skills_guide().splitlines() if line.startswith("| SKILL_")]
    assert [r.split(" | ")[0] for r in rows] == [f"| SKILL_{i:02d}" for i in range(1, 23)]
