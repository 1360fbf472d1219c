"""A shot's setting for its background: kind of place, inside or out, time of day, weather.

The place comes from SKILL_12's location name (its suffix or head noun says the kind: 花果山 is a
mountain, 土谷祠 a temple, Netherfield Park a park); the scene's own words add what the name
does not say (inside a room, at night, in the rain), in Chinese and English. Words are counted,
the most frequent wins, so one passing mention does not repaint a scene.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from nf_skills.contracts import ShotSetting

# zh: place-name suffixes and scene words per kind; checked longest first
_ZH_KIND = {
    "mountain": "山 岭 峰 崖 岳 坡 山坡 山顶 山上 山中 山前 山后",
    "cave": "洞 洞中 洞里 洞内 石洞 洞府",
    "water": "河 江 湖 海 溪 潭 泉 洲 岛 渡 桥 船 岸 河边 江边 海边 水边 水上 大海 海上",
    "forest": "林 树林 松林 竹林 树下 园 花园 后园 果园 园中",
    "town": "城 镇 街 巷 村 庄 县 州 国 市 城里 街上 村里 未庄 城中 集",
    "road": "路 路上 道上 大路 小路 关 半路 途中 路口",
    "field": "田 野 原 田里 田间 草地 野外",
    "palace": "宫 朝 金殿 宝殿 朝中 府 王府 宫中 皇宫",
    "temple": "寺 庙 观 祠 庵 塔 禅院 寺里 庙里 庵里 祠里",
    "sky": "云端 半空 空中 云头 天上 天门 南天门 九霄 天宫 凌霄",
    "room": "屋 房 室 屋里 房里 房中 家里 家中 床 卧房 书房 厨房 门内 屋内 屋子",
    "hall": "殿 堂 厅 大殿 殿上 堂上 厅上 衙门 公堂",
    "shop": "店 酒店 铺 茶馆 当铺 客店 饭店 柜台 酒肆",
}
_EN_KIND = {
    "mountain": "mountain mountains hill hills cliff cliffs peak valley rock rocks",
    "cave": "cave cavern den hole burrow",
    "water": "river lake sea shore beach pool pond stream bridge boat water waves",
    "forest": "wood woods forest tree trees garden gardens park shrubbery grove orchard",
    "town": "town village street streets lane square city market",
    "road": "road roads path carriage journey",
    "field": "field fields meadow meadows common lawn grass",
    "palace": "palace castle court",
    "temple": "church chapel abbey temple",
    "sky": "sky clouds",
    "room": (
        "room rooms parlour parlor drawing-room bedroom chamber kitchen library study "
        "house cottage table sofa fire fireplace window door bed stairs staircase"
    ),
    "hall": "hall ballroom courtroom",
    "shop": "inn shop store tavern",
}
INTERIOR_KINDS = frozenset({"room", "hall", "shop", "cave"})
_INTERIOR = INTERIOR_KINDS
_TIME = {
    "night": (
        "夜 夜里 夜间 半夜 深夜 三更 二更 四更 当夜 是夜 当晚 晚上 月光 月亮 明月 灯 灯下 黑夜 "
        "天黑",
        "night midnight moon moonlight candle candles lamp dark darkness",
    ),
    "dusk": (
        "黄昏 傍晚 日落 夕阳 日西 天晚 晚霞 薄暮 日暮",
        "evening dusk sunset twilight",
    ),
    "dawn": (
        "天明 天亮 黎明 清早 早晨 五更 次早 拂晓 日出 天晓 清晨 早起",
        "dawn morning sunrise daybreak breakfast",
    ),
}
_WEATHER = {
    "rain": ("雨 下雨 大雨 细雨 雷 雷雨 风雨 暴雨", "rain raining rained storm thunder shower wet"),
    "snow": ("雪 下雪 大雪 冰 霜 寒冬", "snow snowing snowy frost ice winter"),
    "fog": ("雾 大雾 烟雾 迷雾 云雾 雾气", "fog foggy mist misty haze"),
}


def _words(spec: str) -> list[str]:
    return sorted(set(spec.split()), key=len, reverse=True)


def _kind_of_name(name: str, zh: bool) -> str | None:
    """The kind a place name says by its suffix (zh) or head noun (en)."""
    if zh:
        for size in (2, 1):
            tail = name[-size:]
            for kind, spec in _ZH_KIND.items():
                if tail in spec.split():
                    return kind
        return None
    head = name.lower().split()[-1] if name.split() else ""
    for kind, spec in _EN_KIND.items():
        if head in spec.split():
            return kind
    return None


def _count(texts: Iterable[str], table: dict[str, str], zh: bool) -> Counter:
    counts: Counter = Counter()
    blob = "\n".join(texts)
    for key, spec in table.items():
        if zh:
            # longest words first, each character counted once (山中 is not also 山)
            rest = blob
            for w in _words(spec):
                k = rest.count(w)
                if k:
                    counts[key] += k * (2 if len(w) > 1 else 1)
                    rest = rest.replace(w, "\x00")
        else:
            pat = r"\b(?:" + "|".join(re.escape(w) for w in _words(spec)) + r")\b"
            counts[key] += len(re.findall(pat, blob, re.I))
    return counts


def kind_counts(texts: list[str], language: str) -> Counter:
    """Weighted counts of each kind's words (zh: two-character words count double)."""
    zh = language == "zh"
    return _count(texts, _ZH_KIND if zh else _EN_KIND, zh)


def _pick(texts: list[str], table: dict[str, tuple[str, str]], zh: bool, default: str) -> str:
    counts = _count(texts, {k: v[0 if zh else 1] for k, v in table.items()}, zh)
    best = max(counts.items(), key=lambda kv: (kv[1], kv[0]), default=(default, 0))
    return best[0] if best[1] >= 1 else default


def shot_setting(
    location: str | None, texts: list[str], language: str, time_cue: str | None = None
) -> ShotSetting:
    """The setting of a scene (or a shot) from its place name and its words."""
    zh = language == "zh"
    words = kind_counts(texts, language)
    kind = _kind_of_name(location, zh) if location else None
    if kind is None:
        kind = max(words.items(), key=lambda kv: (kv[1], kv[0]), default=("field", 0))[0]
        if not words or max(words.values()) == 0:
            kind = "field"
    # a building seen from outside, unless the scene's words put us inside it
    inside = sum(words[k] for k in _INTERIOR)
    outside = sum(v for k, v in words.items() if k not in _INTERIOR)
    interior = kind in _INTERIOR or (kind in ("palace", "temple", "town") and inside > outside)
    if interior and kind not in _INTERIOR:
        kind = {"palace": "hall", "temple": "hall", "town": "room"}[kind]
    cues = [*texts, time_cue or ""]
    return ShotSetting(
        location=location,
        kind=kind,  # type: ignore[arg-type]
        interior=interior,
        time_of_day=_pick(cues, _TIME, zh, "day"),  # type: ignore[arg-type]
        weather=_pick(texts, _WEATHER, zh, "clear"),  # type: ignore[arg-type]
    )
