"""What the browser tests share: a page as headless Chromium draws it, and how much of it is one colour."""

from __future__ import annotations

import io
from pathlib import Path

from lab.records import pdf


def first_screen(html: Path, shot: Path) -> bytes:
    """The RGB pixels of the page's first screen (1200 × 900), scaled down to 300 × 225."""
    from PIL import Image

    done = pdf.chromium(["--window-size=1200,900", f"--screenshot={shot}", html.as_uri()])
    assert shot.is_file(), done.stderr
    return Image.open(io.BytesIO(shot.read_bytes())).convert("RGB").resize((300, 225)).tobytes()


def pixels_of(pixels: bytes, colour: tuple[int, int, int], near: int = 14) -> int:
    """How many pixels are within `near` of `colour` in each channel."""
    return sum(1 for i in range(0, len(pixels), 3) if all(abs(pixels[i + k] - colour[k]) < near for k in range(3)))
