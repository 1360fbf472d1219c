"""Local media tooling: fonts, probing (ffprobe/wave/Pillow) and chapter video composition."""
