"""SKILL_11 voice casting: an espeak-ng voice, rate and pitch per character, plus the narrator.

Voices are espeak-ng ids: the language voice ("cmn" for Chinese, "en"/"en-us" for English) with a
gendered variant ("en+m3", "cmn+f2"). The gender comes from the persona (honorifics/pronouns,
SKILL_14), else from an honorific in the name; unknown gender is drawn from the name's hash.
Everything else (variant, pitch, rate) is drawn from a stable hash of the name too, so a
character keeps its voice across runs and chapters; two characters never share the same
(voice, pitch) while the combinations last.
"""

from __future__ import annotations

import hashlib

from nf_skills import _textkit as tk
from nf_skills.contracts import Persona, VoiceAssignment

SKILL_ID = "SKILL_11"
VERSION = "1.0.0"

NARRATOR = "narrator"
_MALE = ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]
_FEMALE = ["f1", "f2", "f3", "f4", "f5"]
_PITCH = {"m": (28, 52), "f": (55, 82)}  # espeak pitch 0..99
_RATE = {"zh": (150, 185), "en": (150, 185)}
_NARRATOR = {"zh": ("cmn", 165, 45), "en": ("en", 165, 45)}


def cast_voices(personas: list[Persona], language: str) -> list[VoiceAssignment]:
    """The narrator first, then one voice per persona, in the personas' order."""
    lang = "zh" if language == "zh" else "en"
    base_voice, n_rate, n_pitch = _NARRATOR[lang]
    out = [VoiceAssignment(character=NARRATOR, voice=base_voice, rate=n_rate, pitch=n_pitch)]
    used: set[tuple[str, int]] = {(base_voice, n_pitch)}
    for p in personas:
        h = _hash(p.name)
        gender = p.gender or _name_gender(p) or ("m" if h % 2 == 0 else "f")
        variants = _MALE if gender == "m" else _FEMALE
        base = "cmn" if lang == "zh" else ("en-us" if (h >> 40) % 3 == 0 else "en")
        lo, hi = _PITCH[gender]
        voice = f"{base}+{variants[(h >> 8) % len(variants)]}"
        pitch = lo + (h >> 16) % (hi - lo + 1)
        # step through pitches (then variants) until the pair is free
        for step in range(len(variants) * (hi - lo + 1)):
            if (voice, pitch) not in used:
                break
            pitch = lo + (pitch - lo + 7) % (hi - lo + 1)
            if step % (hi - lo + 1) == hi - lo:
                voice = (
                    f"{base}+{variants[(variants.index(voice.split('+')[1]) + 1) % len(variants)]}"
                )
        used.add((voice, pitch))
        r_lo, r_hi = _RATE[lang]
        rate = r_lo + (h >> 24) % (r_hi - r_lo + 1)
        out.append(VoiceAssignment(character=p.name, voice=voice, rate=rate, pitch=pitch))
    return out


def _hash(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def _name_gender(p: Persona) -> str | None:
    for f in [p.name, *p.aliases]:
        g = tk.honorific_gender(f)
        if g:
            return g
    return None
