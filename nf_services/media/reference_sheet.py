"""SKILL_19's reference sheet made visible: every designed character's drawing with its name and
colour on one PNG, the same bitmaps the panels paste (so the sheet is what every chapter shows).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from nf_services.media import figures
from nf_services.media.fonts import load_font
from nf_services.skill_cache import FileArtifact
from nf_skills.contracts import ContinuitySheet
from shared.storage import StoreSpec, open_store

CELL_W, CELL_H, FIGURE_H = 220, 330, 260
COLUMNS = 6


def draw_reference_sheet(sheet: ContinuitySheet) -> Image.Image:
    """One cell per character: the full figure, a colour swatch and the name."""
    names = list(sheet.character_designs)
    cols = max(1, min(COLUMNS, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    img = Image.new("RGB", (cols * CELL_W, rows * CELL_H), (236, 232, 222))
    draw = ImageDraw.Draw(img)
    font = load_font(22)
    for i, name in enumerate(names):
        x, y = (i % cols) * CELL_W, (i // cols) * CELL_H
        fig = figures.figure(sheet.character_designs[name], FIGURE_H)
        img.paste(fig, (x + (CELL_W - fig.width) // 2, y + 10), fig)
        colour = sheet.character_colours.get(name, "#777777")
        draw.rectangle([x + 12, y + FIGURE_H + 24, x + 36, y + FIGURE_H + 48], fill=colour)
        label = name
        while label and font.getlength(label) > CELL_W - 56:
            label = label[:-1]
        draw.text((x + 44, y + FIGURE_H + 36), label, font=font, fill=(30, 30, 30), anchor="lm")
    return img


def store_reference_sheet(sheet: ContinuitySheet, store: StoreSpec) -> FileArtifact | None:
    """Draw the sheet and put it in the artifact store; None when no character is designed."""
    if not sheet.character_designs:
        return None
    blobs = open_store(store)
    with tempfile.TemporaryDirectory(prefix="nf-sheet-") as tmp:
        path = Path(tmp) / "reference_sheet.png"
        draw_reference_sheet(sheet).save(path, format="PNG", compress_level=6)
        blob = blobs.put_file(path, "png")
    return FileArtifact("png", blob.path, blob.sha256, blob.size_bytes, "image/png", None)
