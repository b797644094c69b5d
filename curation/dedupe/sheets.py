"""Contact sheets: one PNG per sampled duplicate group, so a person can see what was grouped."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

THUMB = 160
CAPTION = 30


def contact_sheet(members: list[tuple[int, str | None, str]], out: Path) -> Path:
    """members: (post_id, image path or None, caption); the representative first.

    Writes one row of thumbnails (THUMB px squares, letterboxed on grey) with captions.
    """
    sheet = Image.new("RGB", (THUMB * len(members), THUMB + CAPTION), (235, 235, 235))
    draw = ImageDraw.Draw(sheet)
    for k, (post_id, path, caption) in enumerate(members):
        x = k * THUMB
        try:
            with Image.open(path) as img:
                img.seek(0)
                thumb = ImageOps.contain(img.convert("RGBA"), (THUMB - 8, THUMB - 8))
            tile = Image.new("RGBA", (THUMB - 8, THUMB - 8), (200, 200, 200, 255))
            tile.alpha_composite(thumb, ((tile.width - thumb.width) // 2, (tile.height - thumb.height) // 2))
            sheet.paste(tile.convert("RGB"), (x + 4, 4))
        except (OSError, ValueError, TypeError):
            draw.text((x + 10, THUMB // 2), "no image", fill=(150, 0, 0))
        draw.text((x + 4, THUMB + 2), f"#{post_id}", fill=(0, 0, 0))
        draw.text((x + 4, THUMB + 15), caption[:24], fill=(60, 60, 60))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
