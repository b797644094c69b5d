"""What one synthetic post shows: a plain-data description the renderer turns into pixels.

Scenes are small, picklable dataclasses so that rendering can run in worker processes and a
variant (the same drawing with one element changed) is a copy with one field replaced.
Positions are fractions of the image's width and height.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Glyph:
    """One object drawn on the image, named by its full tag (e.g. ``large_red_star_outline``)."""

    tag: str
    shape: str
    colour: str
    style: str  # solid | outline | striped
    size: str  # small | normal | large
    x: float
    y: float
    angle: float  # degrees


@dataclass(frozen=True)
class Figure:
    """A character: a head with hair, eyes and accessories on a body whose clothing follows the rating."""

    sex: str  # girl | boy (Danbooru); female | male (e621)
    hair: str  # hair colour name; on e621 the fur colour
    eyes: str
    hair_length: str
    accessories: tuple[str, ...]
    expressions: tuple[str, ...]
    species: str | None
    x: float
    y: float
    scale: float  # head radius as a fraction of the short side
    coverage: float  # 1.0 fully clothed (rating g) .. 0.0 (rating e)
    character: str | None = None  # the character tag when the figure is a named character


@dataclass(frozen=True)
class Scene:
    post_id: int
    width: int
    height: int
    background: str  # a BACKGROUNDS key; "" when transparent
    transparent: bool
    figures: tuple[Figure, ...]
    glyphs: tuple[Glyph, ...]
    artist: str
    border: str | None = None  # colour name
    text: str | None = None
    speech_bubble: bool = False
    sparkle: bool = False
    monochrome: bool = False
    greyscale: bool = False
    blurry: bool = False
    motion_lines: bool = False
    watermark: bool = False
    signature: bool = False
    frames: int = 1
    seed: tuple[int, ...] = field(default=(0,))  # for the renderer's own randomness (noise, stars)
