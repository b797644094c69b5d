"""Contact sheets, so a person can see what dedupe did: one PNG per sampled duplicate group, and
one per edge kind with the weakest pairs it joined beside the closest pairs it refused."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

THUMB = 160
CAPTION = 30
TITLE = 16


def _row(members: list[tuple[int, str | None, str]]) -> Image.Image:
    """One row of THUMB px squares (letterboxed on grey) with their post ids and captions."""
    row = Image.new("RGB", (THUMB * max(len(members), 1), THUMB + CAPTION), (235, 235, 235))
    draw = ImageDraw.Draw(row)
    for k, (post_id, path, caption) in enumerate(members):
        x = k * THUMB
        try:
            with Image.open(path) as img:
                img.seek(0)
                thumb = ImageOps.contain(img.convert("RGBA"), (THUMB - 8, THUMB - 8))
            tile = Image.new("RGBA", (THUMB - 8, THUMB - 8), (200, 200, 200, 255))
            tile.alpha_composite(thumb, ((tile.width - thumb.width) // 2, (tile.height - thumb.height) // 2))
            row.paste(tile.convert("RGB"), (x + 4, 4))
        except (OSError, ValueError, TypeError):
            draw.text((x + 10, THUMB // 2), "no image", fill=(150, 0, 0))
        draw.text((x + 4, THUMB + 2), f"#{post_id}", fill=(0, 0, 0))
        draw.text((x + 4, THUMB + 15), caption[:24], fill=(60, 60, 60))
    return row


def contact_sheet(members: list[tuple[int, str | None, str]], out: Path) -> Path:
    """members: (post_id, image path or None, caption); the representative first. Writes one row
    of thumbnails with captions."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _row(members).save(out)
    return out


def pair_sheet(rows: list[tuple[str, list[tuple[int, int, str]]]], paths: dict[int, str], out: Path) -> Path:
    """rows: (title, pairs (post_a, post_b, caption)); each pair drawn as its two pictures side by
    side, the caption under the first, a row per title (rows without pairs say so)."""
    images = []
    for title, pairs in rows:
        members = [m for a, b, caption in pairs for m in ((a, paths.get(a), caption), (b, paths.get(b), f"with #{a}"))]
        images.append((title if pairs else f"{title}: none", _row(members) if members else None))
    width = max([THUMB * 2] + [img.width for _, img in images if img is not None])
    height = sum(TITLE + (img.height if img is not None else 0) for _, img in images)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw, y = ImageDraw.Draw(sheet), 0
    for title, img in images:
        draw.text((4, y + 2), title, fill=(0, 0, 0))
        y += TITLE
        if img is not None:
            sheet.paste(img, (0, y))
            y += img.height
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
