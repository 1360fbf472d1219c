"""Is a character name a person the panels should draw? Evidence from the text, not a stop list.

SKILL_05 finds names by surface cues, so a common noun sometimes gets through (阿Q正传's 籍贯,
"native place"; 布衫, "shirt"). A person leaves traces a noun does not:
- speaks: quotes are attributed to them;
- carries a title: an honorific that gives a gender (Mr./Lady/太爷/七嫂); a gender guessed
  from he/she pronouns alone is no evidence (阿Q的籍贯了。倘他姓赵 gives 籍贯 a "he");
- acts: the name is the subject of an animate verb (阿Q便说, 吴妈楞了, Alice said), allowing a
  few adverbs between.
A verb mistaken for a name (大圣高叫道 -> 高叫, 大惊, 礼拜) speaks and acts in the rules' eyes, but
it never stands where a noun does: after 的/与/把/见/那 ... or before 的. A frequent zh "name"
almost never found there (under 5% of its mentions; real names are at 7% to 45% in 西游记 and
阿Q正传) is a predicate, whatever else it seems to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nf_skills._textkit import honorific_gender

# verbs whose subject is animate (speech, perception, motion, emotion, handling)
_ZH_VERBS = (
    "说|道|问|答|笑|哭|叫|喊|嚷|骂|叹|想|看|望|瞧|见|听|闻|走|跑|奔|赶|逃|跳|来到|进|出来|"
    "出去|回|转身|坐|站|立|跪|拜|拿|取|接|递|抓|揪|扯|拉|推|抱|打|踢|吃|喝|睡|醒|点头|摇头|"
    "怒|喜|惊|怕|吓|慌|恼|愣|楞|只得|只好|连忙|急忙|赶紧|慌忙|忽然|突然|心里|心中|"
    "自己|不敢|不肯|不知|觉得|以为|知道|记得|决定|答应|吩咐|叫道|对|向|把|领|带|随"
)
_ZH_ADVERBS = "也|便|就|却|又|才|还|都|正|已|只|倒|竟|仍|再|先|于是|这才|一面|一边|不|没"
_EN_VERBS = (
    "said|says|asked|asks|replied|answered|cried|exclaimed|whispered|shouted|called|laughed|"
    "smiled|sighed|nodded|looked|turned|walked|ran|went|came|sat|stood|rose|took|gave|thought|"
    "felt|knew|saw|heard|began|added|continued|returned|observed|spoke|told|wrote|wanted|"
    "tried|opened|shook|stopped|remarked|answered|entered|left|hurried|listened|wondered|"
    "could|would|did|had|was|is|has"
)
_EN_ADVERBS = r"(?:\w+ly\s+|then\s+|now\s+|also\s+|at once\s+)?"
# a noun's slots: after a preposition, a demonstrative, 的 or a verb taking a person as object
_ZH_NOMINAL_BEFORE = re.compile(
    r"(?:见|与|和|同|跟|把|被|叫|问|对|向|那|这|是|给|请|随|的|拜|将|教|令|有)$"
)
MIN_NOMINAL_SHARE = 0.05
MIN_MENTIONS_FOR_SHARE = 10


@dataclass(frozen=True)
class Evidence:
    person: bool
    why: str


def _forms(name: str, aliases: Iterable[str]) -> list[str]:
    return sorted({f for f in [name, *aliases] if f.strip()}, key=len, reverse=True)


def agent_mentions(forms: list[str], texts: Iterable[str], language: str) -> tuple[int, int, int]:
    """(mentions, mentions as the subject of an animate verb, mentions in a noun's slot (zh))."""
    zh = language == "zh"
    alt = "|".join(re.escape(f) for f in forms)
    if zh:
        acts = re.compile(rf"(?:{alt})(?:{_ZH_ADVERBS}){{0,2}}(?:{_ZH_VERBS})")
        found = re.compile(alt)
    else:
        acts = re.compile(rf"\b(?:{alt})\b,?\s+{_EN_ADVERBS}(?:{_EN_VERBS})\b")
        found = re.compile(rf"\b(?:{alt})\b")
    mentions = agent = nominal = 0
    for text in texts:
        for m in found.finditer(text):
            mentions += 1
            if zh and (
                _ZH_NOMINAL_BEFORE.search(text, max(0, m.start() - 2), m.start())
                or text.startswith("的", m.end())
            ):
                nominal += 1
        agent += len(acts.findall(text))
    return mentions, agent, nominal


def evidence(
    name: str,
    aliases: Iterable[str],
    texts: list[str],
    language: str,
    *,
    speaks: bool,
    gender: str | None,
    min_acts: int = 2,
) -> Evidence:
    """Whether `name` is drawn as a person, and why (for the persona card and the logs)."""
    forms = _forms(name, aliases)
    mentions, acts, nominal = agent_mentions(forms, texts, language)
    if (
        language == "zh"
        and mentions >= MIN_MENTIONS_FOR_SHARE
        and nominal < MIN_NOMINAL_SHARE * mentions
    ):
        return Evidence(False, f"predicate: {nominal}/{mentions} mentions in a noun's slot")
    if speaks:
        return Evidence(True, "speaks")
    titled = next((g for g in map(honorific_gender, forms) if g), None)
    if titled and (gender is None or gender == titled):
        return Evidence(True, f"title ({titled})")
    if acts >= min(min_acts, max(1, mentions)):
        return Evidence(True, f"acts: {acts}/{mentions} mentions")
    return Evidence(False, f"no speech, gender or action in {mentions} mentions")
