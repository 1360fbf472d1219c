"""SKILL_08's optional model step: quotes the rules left unattributed go to the configured chat
provider with the candidate names; the answer is kept only when it names one of them.

Offline stays the default (the op calls this only when a chat provider is configured). A quote
the provider cannot answer (after retries, or at once while its breaker is open or the run's
provider deadline is spent) keeps the rules' answer (no speaker): a degradation, recorded, never
a failed chapter. SKILL_08 itself stays pure; the provider call lives here, in the op layer.
"""

from __future__ import annotations

import re

from nf_assets.executors import _attempt, run_health_policy
from nf_services.providers import health
from nf_services.skill_cache import Outcome
from nf_skills.contracts import Chapter, CharacterList, DialogueLine
from shared.errors import NFError

RULE = "llm"
CONFIDENCE = 0.5  # a model's answer from a closed list: kept, but below explicit tags
CONTEXT_CHARS = 600  # of the chapter on each side of the quote
MAX_CANDIDATES = 12
ATTRIBUTE_SYSTEM = (
    "You identify who speaks a quotation in a novel. Answer with exactly one name from the "
    "candidate list, copied as written, or UNKNOWN when the passage does not tell. Answer with "
    "the name only."
)
_STRIP_RE = re.compile(r"^[\s\"'“”‘’「」*:：.。]+|[\s\"'“”‘’「」*.。!！]+$")


def _candidates(text: str, characters: CharacterList) -> list[tuple[str, list[str]]]:
    """Characters named in the passage (most mentioned first), else the book's main ones."""
    named = [
        (c.name, [c.name, *c.aliases])
        for c in characters.characters
        if any(form and form in text for form in (c.name, *c.aliases))
    ]
    pool = named or [(c.name, [c.name, *c.aliases]) for c in characters.characters]
    return pool[:MAX_CANDIDATES]


def _answer(reply: str, candidates: list[tuple[str, list[str]]]) -> str | None:
    """The canonical name the reply gives, or None (UNKNOWN, prose, a name not offered)."""
    said = _STRIP_RE.sub("", reply.strip().splitlines()[0] if reply.strip() else "").casefold()
    for name, forms in candidates:
        if any(said == f.casefold() for f in forms):
            return name
    return None


def _prompt(chapter: Chapter, line: DialogueLine, candidates: list[tuple[str, list[str]]]) -> str:
    a = max(0, line.start - CONTEXT_CHARS)
    b = min(len(chapter.text), line.end + CONTEXT_CHARS)
    passage = chapter.text[a : line.start] + "[[" + chapter.text[line.start : line.end] + "]]"
    passage += chapter.text[line.end : b]
    names = "; ".join(name for name, _ in candidates)
    return (
        f"Candidates: {names}\n\nPassage (the quotation is marked [[ ]]):\n{passage}\n\n"
        f"Quotation: {line.quote}\nWho says it?"
    )


def attribute_unassigned(
    lines: list[DialogueLine],
    chapter: Chapter,
    characters: CharacterList,
    chat_config: dict,
    retry_scale: float = 1.0,
    policy: health.HealthPolicy | None = None,
) -> Outcome:
    """`lines` (SKILL_08's answer for `chapter`) with the unattributed quotes asked of the chat
    model; attributed quotes are never sent and never changed."""
    with health.guarded(policy or run_health_policy()):
        return _attribute(lines, chapter, characters, chat_config, retry_scale)


def _attribute(
    lines: list[DialogueLine],
    chapter: Chapter,
    characters: CharacterList,
    chat_config: dict,
    retry_scale: float,
) -> Outcome:
    outcome = Outcome(output=None)
    out: list[DialogueLine] = []
    for line in lines:
        if line.speaker is not None:
            out.append(line)
            continue
        a = max(0, line.start - CONTEXT_CHARS)
        candidates = _candidates(chapter.text[a : line.end + CONTEXT_CHARS], characters)
        if not candidates:
            out.append(line)
            continue
        user = _prompt(chapter, line, candidates)
        try:
            provider, reply = _attempt(
                "chat",
                chat_config,
                lambda prov, _simple, user=user: prov.chat(ATTRIBUTE_SYSTEM, user, max_tokens=20),
                outcome,
                retry_scale,
            )
        except NFError as exc:
            outcome.degradations.append(
                {
                    "item": f"quote {chapter.index}/{line.start}",
                    "attempt": 1,
                    "from": "chat",
                    "fallback": "rules",
                    "reason": exc.detail[:300],
                    "error_code": exc.code,
                }
            )
            out.append(line)
            continue
        outcome.usages.append(reply.usage)
        outcome.provider = provider.name
        speaker = _answer(reply.text, candidates)
        if speaker is None:
            out.append(line)
            continue
        out.append(
            line.model_copy(
                update={"speaker": speaker, "rule": RULE, "cue": RULE, "confidence": CONFIDENCE}
            )
        )
    outcome.output = out
    return outcome
