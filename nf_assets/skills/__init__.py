"""The skills' old import path, an alias of `nf_skills`: the public gold scorer
(`../shared/dialogue/eval_dialogue.py`) imports `nf_assets.skills.*`. New code imports nf_skills."""

import importlib
import pkgutil
import sys

import nf_skills

for _mod in pkgutil.iter_modules(nf_skills.__path__):
    sys.modules[f"{__name__}.{_mod.name}"] = importlib.import_module(f"nf_skills.{_mod.name}")
