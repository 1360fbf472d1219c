"""SKILL_08's optional model step against the fake OpenAI-compatible server: unattributed
quotes go to the chat model with the candidate names; the rules' answer stays on failure."""

from __future__ import annotations

from nf_assets.llm_attribution import ATTRIBUTE_SYSTEM, attribute_unassigned
from nf_skills import s08_dialogue
from nf_skills.contracts import Chapter, Character, CharacterList
from tests.providers.fake_openai import FakeOpenAIServer, FakeResponse

TEXT = (
    "Mary Brown walked into the garden with Tom Hale.\n\n"
    "“It is a fine morning,” said Mary Brown.\n\n"
    # a long narration ends the conversation (a short beat would keep it going)
    "The bees went on working in the long grass by the wall, the sun climbed over the orchard, "
    "the gardener's boy carried water from the well to the beds of beans and back again, and "
    "somewhere beyond the hedge a dog barked at a cart going slowly down to the village.\n\n"
    "“Rain before noon.”\n\n"
)
CHAPTER = Chapter(index=1, title="I", text=TEXT)
CAST = CharacterList(
    characters=[
        Character(name="Mary Brown", aliases=["Mary"], mentions=3),
        Character(name="Tom Hale", aliases=["Tom"], mentions=2),
    ],
    skill_version="test",
)


def _reply(text: str) -> FakeResponse:
    return FakeResponse(
        200,
        {
            "id": "x",
            "object": "chat.completion",
            "model": "chat-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        },
    )


def _config(url: str) -> dict:
    return {"kind": "openai", "base_url": url, "model": "chat-1", "timeout": 2}


def _rules():
    lines = s08_dialogue.attribute_dialogue(CHAPTER, CAST, "en")
    assert [d.speaker for d in lines] == ["Mary Brown", None]  # the rules leave one quote
    return lines


def test_unattributed_quote_is_asked_with_candidates_and_the_answer_kept():
    lines = _rules()
    with FakeOpenAIServer() as server:
        server.push(_reply("Tom."))
        out = attribute_unassigned(lines, CHAPTER, CAST, _config(server.base_url), 0.001)
        requests = list(server.requests)
    assert len(requests) == 1  # the tagged quote is never sent
    messages = requests[0].json["messages"]
    assert messages[0]["content"] == ATTRIBUTE_SYSTEM
    assert "Candidates: Mary Brown; Tom Hale" in messages[1]["content"]
    assert "[[“Rain before noon.”]]" in messages[1]["content"]
    assert out.output[0] == lines[0]
    last = out.output[1]
    assert (last.speaker, last.rule, last.confidence) == ("Tom Hale", "llm", 0.5)
    assert not out.degradations and len(out.usages) == 1


def test_an_answer_outside_the_candidates_leaves_the_quote_unattributed():
    lines = _rules()
    with FakeOpenAIServer() as server:
        server.push(_reply("Probably the gardener"))
        out = attribute_unassigned(lines, CHAPTER, CAST, _config(server.base_url), 0.001)
    assert out.output == lines and not out.degradations


def test_a_failing_provider_keeps_the_rules_answer_and_records_the_fallback():
    lines = _rules()
    with FakeOpenAIServer() as server:
        out = attribute_unassigned(lines, CHAPTER, CAST, _config(server.url_for("500")), 0.001)
        assert len(server.requests) >= 2  # retried before giving up
    assert out.output == lines
    [d] = out.degradations
    assert (
        d["from"] == "chat"
        and d["fallback"] == "rules"
        and d["item"] == "quote 1/" + str(lines[1].start)
    )
    assert out.retries
