"""Hand-made chapters, understandings and personas for the planning-skill tests (SKILL_09-22).

Built from the contract models directly, so the planning skills are tested without the
understanding skills. Offsets are computed from the text, never typed in.
"""

from __future__ import annotations

from nf_skills.contracts import (
    Chapter,
    ChapterUnderstanding,
    DialogueLine,
    Persona,
    Scene,
    Summary,
    VoiceAssignment,
)

ZH_TEXT = (
    "　　清晨，师徒四人来到一座高山脚下。山路崎岖，林中雾气弥漫，看不见山顶。\n"
    "　　行者笑道：“师父莫怕，有老孙在此，什么妖怪也近不得身。”唐僧点头道：“悟空，你要小心。”\n"
    "　　八戒嘟囔着说：“这山看着就不太平，不如回去吧。”\n"
    "　　到了傍晚，他们在山腰的破庙里歇息。庙里空无一人，只有一尊倒塌的佛像。\n"
    "　　沙僧去打水，回来说：“前面有妖气。”行者跳到半空一看，果然有一团黑云压在山头。\n"
)

EN_TEXT = (
    "The morning was grey when Alice reached the river. The water ran fast and cold under "
    "the old bridge.\n\n"
    "“Is anyone there?” asked Alice. “I only want to cross,” she added.\n\n"
    "The White Rabbit came running along the bank. “Oh dear, I shall be late!” said the "
    "Rabbit.\n\n"
    "Later that evening, the two of them sat by a small fire in the woods. Nobody spoke for a "
    "long while.\n\n"
    "“We should sleep,” said the Rabbit at last."
)


def persona(name: str, aliases: list[str] | None = None, **kw: object) -> Persona:
    base = dict(
        name=name,
        aliases=aliases or [],
        appearance=kw.pop("appearance", f"{name} in travelling clothes"),
        traits=[],
        speech_style=kw.pop("speech_style", ""),
        colour=kw.pop("colour", "#cc3333"),
        skill_version="test",
    )
    base.update(kw)
    return Persona(**base)


def _quotes(text: str, chapter_index: int, speakers: list[str | None]) -> list[DialogueLine]:
    """DialogueLines for every “...” in order, offsets of the text inside the marks."""
    out: list[DialogueLine] = []
    pos = 0
    for speaker in speakers:
        s = text.index("“", pos) + 1
        e = text.index("”", s)
        out.append(
            DialogueLine(
                chapter_index=chapter_index, start=s, end=e, quote=text[s:e], speaker=speaker
            )
        )
        pos = e
    return out


def understanding(
    text: str,
    chapter_index: int,
    scene_starts: list[int],
    speakers: list[str | None],
    characters: list[str],
    summary: list[str],
) -> ChapterUnderstanding:
    bounds = [*scene_starts, len(text)]
    scenes = [
        Scene(chapter_index=chapter_index, index=i + 1, start=a, end=b)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]
    return ChapterUnderstanding(
        chapter_index=chapter_index,
        summary=Summary(chapter_index=chapter_index, sentences=summary, skill_version="test"),
        scenes=scenes,
        dialogue=_quotes(text, chapter_index, speakers),
        characters_present=characters,
        settings=[],
        skill_versions={},
    )


def zh_case() -> tuple[Chapter, ChapterUnderstanding, list[Persona]]:
    chapter = Chapter(index=3, title="第三回　夜宿破庙", text=ZH_TEXT)
    u = understanding(
        ZH_TEXT,
        3,
        [0, ZH_TEXT.index("　　到了傍晚")],
        ["孙悟空", "唐僧", "猪八戒", "沙僧"],
        ["孙悟空", "唐僧", "猪八戒", "沙僧"],
        ["到了傍晚，他们在山腰的破庙里歇息。"],
    )
    personas = [
        persona("孙悟空", ["行者", "悟空", "老孙"], colour="#d4a017"),
        persona("唐僧", ["三藏", "师父"], colour="#f5f5dc"),
        persona("猪八戒", ["八戒"], colour="#ffb6c1"),
        persona("沙僧", [], colour="#4682b4"),
    ]
    return chapter, u, personas


def en_case() -> tuple[Chapter, ChapterUnderstanding, list[Persona]]:
    chapter = Chapter(index=1, title="CHAPTER I. The River", text=EN_TEXT)
    u = understanding(
        EN_TEXT,
        1,
        [0, EN_TEXT.index("Later that evening")],
        ["Alice", "Alice", "White Rabbit", "White Rabbit"],
        ["Alice", "White Rabbit"],
        ["The White Rabbit came running along the bank."],
    )
    personas = [
        persona("Alice", [], colour="#3366cc"),
        persona("White Rabbit", ["Rabbit"], colour="#eeeeee"),
    ]
    return chapter, u, personas


def long_zh_case(
    n_scenes: int = 4, per_scene: int = 30
) -> tuple[Chapter, ChapterUnderstanding, list[Persona]]:
    """A chapter far longer than two minutes of speech, with talk in every scene."""
    places = ["山门", "河边", "集市", "古庙", "松林", "渡口", "草堂", "城楼"]
    things = ["一只白鹤", "一盏孤灯", "一匹老马", "一座石桥", "一片竹林", "一条小船"]
    names = ["行者", "八戒", "沙僧", "唐僧"]
    parts: list[str] = []
    speakers: list[str | None] = []
    scene_starts: list[int] = []
    canon = {"行者": "孙悟空", "八戒": "猪八戒", "沙僧": "沙僧", "唐僧": "唐僧"}
    for sc in range(n_scenes):
        scene_starts.append(sum(len(p) for p in parts))
        for i in range(per_scene):
            k = sc * per_scene + i
            who = names[k % len(names)]
            place = places[k % len(places)]
            thing = things[k % len(things)]
            if i % 5 == 4:
                parts.append(f"　　{who}说道：“我们在{place}看见了{thing}，第{k}次了。”\n")
                speakers.append(canon[who])
            else:
                parts.append(f"　　第{k}天，{who}走到{place}，远远望见{thing}，心中暗暗称奇。\n")
    text = "".join(parts)
    chapter = Chapter(index=7, title="第七回", text=text)
    u = understanding(
        text,
        7,
        scene_starts,
        speakers,
        ["孙悟空", "猪八戒", "沙僧", "唐僧"],
        ["第0天，行者走到山门，远远望见一只白鹤，心中暗暗称奇。"],
    )
    personas = [
        persona("孙悟空", ["行者"]),
        persona("猪八戒", ["八戒"]),
        persona("沙僧", []),
        persona("唐僧", []),
    ]
    return chapter, u, personas


def voices() -> list[VoiceAssignment]:
    return [
        VoiceAssignment(character="narrator", voice="cmn", rate=170, pitch=50),
        VoiceAssignment(character="孙悟空", voice="cmn+m1", rate=175, pitch=55),
        VoiceAssignment(character="沙僧", voice="cmn+m3", rate=180, pitch=60),
    ]
