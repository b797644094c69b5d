"""Sample the posts of a synthetic board: scenes, true tags, flags, history, planted
duplicates, bad files and label noise. No pixels here: :mod:`.render` draws them later.

Tags are derived from the scene (:func:`scene_tags`), so a variant that changes one element
of a drawing changes exactly the tags that element carries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np

from ..progress import progress
from .scene import Figure, Glyph, Scene
from .transforms import DUPLICATE_KINDS, REPOST_KINDS, sample_params, transformed_size
from .visibility import HiddenParts, hidden_parts_of
from .vocab import (
    ACCESSORIES,
    BACKGROUNDS,
    BORDER_COLOURS,
    EXPRESSIONS,
    EYE_COLOURS,
    HAIR_COLOURS,
    HAIR_LENGTHS,
    SHAPES,
    SPECIES,
    Vocabulary,
    Weighted,
    object_tag,
    parse_object_tag,
)

BOARD_START = dt.datetime(2005, 5, 24, 3, 35, tzinfo=dt.UTC)
ALIAS_ERA_END = dt.datetime(2014, 1, 1, tzinfo=dt.UTC)  # older posts may keep old tag names
BAD_FILE_KINDS = (  # problem -> what the images stage should conclude
    ("truncated", "corrupt"),
    ("zero_byte", "corrupt"),
    ("missing", "missing"),
    ("not_an_image", "corrupt"),
    ("decompression_bomb", "bomb"),
    ("cmyk_jpeg", "ok"),
    ("png16", "ok"),
    ("palette_transparency", "ok"),
)
BOMB_SIZE = (40_000, 40_000)  # what a decompression-bomb file's header claims
TEXTS = ("hello!", "thank you", "happy birthday", "good morning", "the end", "happy new year", "welcome", "see you")
ASPECTS = ((1, 1, 0.25), (3, 4, 0.3), (4, 3, 0.15), (9, 16, 0.1), (16, 9, 0.1), (2, 3, 0.1))
SCALES = ((0.5, 0.06), (0.8, 0.2), (1.0, 0.5), (1.3, 0.18), (2.0, 0.06))
RATINGS = (("g", 0.42), ("s", 0.30), ("q", 0.16), ("e", 0.12))
COVERAGE = {"g": 1.0, "s": 0.65, "q": 0.3, "e": 0.0}


@dataclass(frozen=True)
class SynthParams:
    """Knobs of the generator, all with defaults; recorded in truth/manifest.json."""

    posts: int
    seed: int = 0
    flavour: str = "danbooru"
    image_size: int = 256
    snapshot: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    duplicate_rate: float = 0.10  # share of posts that are planted duplicates of an earlier post
    missing_rate: float = 0.05  # share of a post's droppable true general tags removed from the dump
    wrong_rate: float = 0.015  # expected wrong general tags per true general tag
    implied_omission_rate: float = 0.2  # posts whose dump leaves out implied tags
    deleted_rate: float = 0.04
    banned_rate: float = 0.01
    flagged_rate: float = 0.005
    pending_rate: float = 0.007
    transparent_rate: float = 0.035
    animated_rate: float = 0.012
    bad_file_rate: float = 0.003  # at least one of each bad-file kind is always planted
    reposts: str = "classic"  # "all": also the crops, turns, censoring, captions... of REPOST_KINDS
    hard_negative_rate: float = 0.04  # with reposts = "all": originals made to look like an earlier one


@dataclass
class Post:
    post_id: int
    created_at: dt.datetime
    updated_at: dt.datetime
    scene: Scene  # what the file shows (for a transformed duplicate: its source's scene)
    rating: str
    ext: str
    quality: int
    width: int
    height: int
    true_tags: set[str]  # while sampling: only the tags no drawing carries (meta, invisible)
    invisible_tags: set[str]
    artist: str
    tag_scene: Scene | None = None  # the drawing whose visible parts the post's tags name
    dump_tags: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    is_deleted: bool = False
    is_banned: bool = False
    is_flagged: bool = False
    is_pending: bool = False
    parent_id: int | None = None
    has_children: bool = False
    score: int = 0
    fav_count: int = 0
    up_score: int = 0
    down_score: int = 0
    uploader_id: int = 0
    approver_id: int | None = None
    pixiv_id: int | None = None
    source: str = ""
    description: str = ""
    dup_of: int | None = None
    dup_kind: str | None = None
    dup_params: dict | None = None
    negative_of: int | None = None  # a hard negative: another picture made to look like this post
    negative_kind: str | None = None  # palette | layout | character
    bad: str | None = None
    md5: str = ""
    file_size: int = 0

    @property
    def transparent(self) -> bool:
        return self.scene.transparent and self.dup_kind != "alpha_background"


_ASPECTS = Weighted([a[:2] for a in ASPECTS], [a[2] for a in ASPECTS])
_SCALES = Weighted([s[0] for s in SCALES], [s[1] for s in SCALES])
_RATINGS = Weighted([r[0] for r in RATINGS], [r[1] for r in RATINGS])
_FIGURE_COUNTS = Weighted([0, 1, 2, 3], [0.2, 0.55, 0.17, 0.08])
_BACKGROUNDS = Weighted(BACKGROUNDS, BACKGROUNDS.values())
_HAIR_LENGTHS = Weighted(HAIR_LENGTHS, HAIR_LENGTHS.values())
_EXTS = Weighted(["jpg", "png", "webp", "gif"], [0.68, 0.22, 0.06, 0.04])
_HAIRS = Weighted(HAIR_COLOURS, [1] * len(HAIR_COLOURS))
_EYES = Weighted(EYE_COLOURS, [1] * len(EYE_COLOURS))
_SPECIES = Weighted(SPECIES, [1] * len(SPECIES))
_DUP_KINDS = Weighted(DUPLICATE_KINDS, DUPLICATE_KINDS.values())
_ALL_KINDS = Weighted({**DUPLICATE_KINDS, **REPOST_KINDS}, {**DUPLICATE_KINDS, **REPOST_KINDS}.values())


def _dims(rng: np.random.Generator, image_size: int) -> tuple[int, int]:
    aw, ah = _ASPECTS.pick(rng)
    scale = _SCALES.pick(rng)
    long_side = int(round(image_size * scale))
    if aw >= ah:
        return long_side, max(8, int(round(long_side * ah / aw)))
    return max(8, int(round(long_side * aw / ah))), long_side


def _sample_figures(vocab: Vocabulary, rng: np.random.Generator, n: int, rating: str) -> tuple[Figure, ...]:
    e621 = vocab.flavour == "e621"
    figures = []
    for i in range(n):
        x = (i + 0.5) / n + rng.uniform(-0.05, 0.05)
        y = rng.uniform(0.28, 0.4)
        scale = rng.uniform(0.11, 0.15) / max(1.0, n**0.5 * 0.8)
        expressions = tuple(e for e, p in EXPRESSIONS.items() if rng.random() < p)
        if rng.random() < 0.55:
            ch = vocab.sampler("characters").pick(rng)
            figures.append(
                Figure(
                    ch.sex,
                    ch.hair,
                    ch.eyes,
                    ch.hair_length,
                    ch.accessories,
                    expressions,
                    ch.species,
                    x,
                    y,
                    scale,
                    COVERAGE[rating],
                    ch.name,
                )
            )
            continue
        if e621:
            sex = "female" if rng.random() < 0.6 else "male"
            species = _SPECIES.pick(rng)
            accessories: tuple[str, ...] = ()
        else:
            sex = "girl" if rng.random() < 0.75 else "boy"
            species = None
            accessories = tuple(a for a, p in ACCESSORIES.items() if rng.random() < p)
        figures.append(
            Figure(
                sex,
                _HAIRS.pick(rng),
                _EYES.pick(rng),
                _HAIR_LENGTHS.pick(rng),
                accessories,
                expressions,
                species,
                x,
                y,
                scale,
                COVERAGE[rating],
            )
        )
    return tuple(figures)


def _sample_glyphs(vocab: Vocabulary, rng: np.random.Generator) -> tuple[Glyph, ...]:
    n = min(6, 1 + int(rng.poisson(1.8)))
    objects = vocab.sampler("objects")
    picks = list(dict.fromkeys(objects.pick(rng) for _ in range(n)))
    glyphs = []
    for tag in picks:
        size, colour, shape, style = parse_object_tag(tag)
        glyphs.append(
            Glyph(
                tag,
                shape,
                colour,
                style,
                size,
                float(rng.uniform(0.12, 0.88)),
                float(rng.uniform(0.12, 0.88)),
                float(rng.uniform(0, 360)),
            )
        )
    return tuple(glyphs)


def sample_scene(
    vocab: Vocabulary, post_id: int, rng: np.random.Generator, params: SynthParams, transparent: bool, frames: int
) -> tuple[Scene, str]:
    """A new original drawing and its rating."""
    width, height = _dims(rng, params.image_size)
    n_figures = _FIGURE_COUNTS.pick(rng)
    rating = "g" if n_figures == 0 and rng.random() < 0.9 else _RATINGS.pick(rng)
    artist = vocab.sampler("artists").pick(rng)
    style = vocab.styles[artist]
    monochrome = rng.random() < 0.05
    background = "" if transparent else _BACKGROUNDS.pick(rng)
    scene = Scene(
        post_id=post_id,
        width=width,
        height=height,
        background=background,
        transparent=transparent,
        figures=_sample_figures(vocab, rng, n_figures, rating),
        glyphs=_sample_glyphs(vocab, rng),
        artist=artist,
        border=str(rng.choice(BORDER_COLOURS)) if rng.random() < 0.06 else None,
        text=str(rng.choice(TEXTS)) if rng.random() < 0.08 else None,
        speech_bubble=bool(rng.random() < 0.05),
        sparkle=bool(rng.random() < 0.08),
        monochrome=monochrome,
        greyscale=monochrome and rng.random() < 0.8,
        blurry=bool(rng.random() < 0.03),
        motion_lines=bool(rng.random() < 0.03),
        watermark=bool(rng.random() < 0.01),
        signature=bool(rng.random() < style.signature_rate),
        frames=frames,
        seed=(params.seed, post_id),
    )
    return scene, rating


COLOURED_BACKGROUNDS = ("pink", "blue", "yellow")  # flat backgrounds whose colour a monochrome picture loses


def scene_tags(scene: Scene, vocab: Vocabulary, hidden: HiddenParts | None = None) -> set[str]:
    """The tags a viewer can see in a drawing (before implications): what the renderer draws and
    leaves in view. The glyphs and eyes that ``hidden`` names (mostly hidden behind later
    drawing, :mod:`.visibility`) are left out; a monochrome picture shows shapes but no
    colours, so its glyphs carry only their shape's tag, and eye, hair and flat background
    colours are left out."""
    e621 = vocab.flavour == "e621"
    hidden = hidden or HiddenParts(frozenset(), frozenset())
    colourless = scene.monochrome or scene.greyscale
    tags = {SHAPES[g.shape] if colourless else g.tag for i, g in enumerate(scene.glyphs) if i not in hidden.glyphs} | {
        scene.artist
    }
    if scene.background:
        coloured = scene.background.split("_")[0] in COLOURED_BACKGROUNDS
        tags.add("simple_background" if colourless and coloured else scene.background)
    for flag, tag in (
        (scene.speech_bubble, "speech_bubble"),
        (scene.sparkle, "sparkle"),
        (scene.blurry, "blurry"),
        (scene.motion_lines, "motion_lines"),
        (scene.watermark, "watermark"),
        (scene.signature, "signature"),
        (scene.monochrome, "monochrome"),
        (scene.greyscale, "greyscale"),
        (bool(scene.text), "english_text"),
    ):
        if flag:
            tags.add(tag)
    if scene.border and not (colourless and scene.border == "pink"):
        tags.add(f"{scene.border}_border")
    figures = scene.figures
    if e621:
        tags.add({0: "zero_pictured", 1: "solo", 2: "duo"}.get(len(figures), "group"))
        if figures:
            tags.add("anthro")
    else:
        girls = sum(f.sex == "girl" for f in figures)
        boys = len(figures) - girls
        if girls:
            tags.add({1: "1girl", 2: "2girls", 3: "3girls"}.get(girls, "multiple_girls"))
        if boys:
            tags.add({1: "1boy", 2: "2boys"}.get(boys, "multiple_boys"))
        if len(figures) == 1:
            tags.add("solo")
        elif not figures:
            tags.add("no_humans")
    for i, f in enumerate(figures):
        if i not in hidden.faces:
            tags.update(f.expressions)
            if not colourless:
                tags.add(f"{f.eyes}_eyes")
        under_hat = {part for j, part in hidden.under_hats if j == i}
        if e621:
            tags.update({f.species, f.sex})
        else:
            tags.update({f.hair_length, *(a for a in f.accessories if a not in under_hat)})
        if not colourless and "hair" not in under_hat:
            tags.add(f"{f.hair}_fur" if e621 else f"{f.hair}_hair")
        if f.character:
            tags.update({f.character, vocab.character(f.character).copyright})
    return {t for t in tags if t}


def file_meta_tags(vocab: Vocabulary, width: int, height: int, transparent: bool, frames: int, image_size: int) -> set[str]:
    """Meta tags that follow the file. The synth scales Danbooru's highres rule (1600x1200)
    to its small images: highres from 1.25 x image_size on the long side, absurdres from 1.9 x,
    lowres up to 0.55 x."""
    long_side = max(width, height)
    e621 = vocab.flavour == "e621"
    tags = set()
    if long_side >= 1.25 * image_size:
        tags.add("hi_res" if e621 else "highres")
    if long_side >= 1.9 * image_size:
        tags.add("absurd_res" if e621 else "absurdres")
    if long_side <= 0.55 * image_size:
        tags.add("low_res" if e621 else "lowres")
    if transparent:
        tags.add("alpha_channel" if e621 else "transparent_background")
    if frames > 1:
        tags.update({"animated"} if e621 else {"animated", "animated_gif"})
    return tags


def _invisible_tags(vocab: Vocabulary, rng: np.random.Generator, scene: Scene) -> set[str]:
    """Tags no pixel shows: commentary, bad ids, lore; 'original' for character-less art."""
    tags = set()
    if vocab.flavour == "e621":
        if rng.random() < 0.6:
            tags.add("digital_media_(artwork)")
        if scene.figures and rng.random() < 0.1:
            tags.add(str(rng.choice(["male_(lore)", "female_(lore)", "intersex_(lore)"])))
        if rng.random() < 0.01:
            tags.add("invalid_tag")
        if rng.random() < 0.01:
            tags.add("conditional_dnp")
    else:
        if rng.random() < 0.25:
            tags.add("commentary_request")
        if scene.text and rng.random() < 0.3:
            tags.add("translated")
        if rng.random() < 0.03:
            tags.add("bad_id")
        if rng.random() < 0.02:
            tags.add("bad_pixiv_id")
    if not any(f.character for f in scene.figures) and rng.random() < 0.5:
        tags.add("original")
    return tags


def _variant_scene(scene: Scene, vocab: Vocabulary, rng: np.random.Generator) -> tuple[Scene, str]:
    """The same drawing with one element changed, and what changed."""
    options = ["add_glyph", "recolour_glyph", "sparkle", "expression"]
    if len(scene.glyphs) >= 2:
        options.append("remove_glyph")
    if not scene.figures:
        options.remove("expression")
    change = str(rng.choice(options))
    if change == "remove_glyph":
        k = int(rng.integers(len(scene.glyphs)))
        return replace(scene, glyphs=scene.glyphs[:k] + scene.glyphs[k + 1 :]), f"removed {scene.glyphs[k].tag}"
    if change == "add_glyph":
        extra = _sample_glyphs(vocab, rng)[0]
        if extra.tag in {g.tag for g in scene.glyphs}:
            return replace(scene, sparkle=not scene.sparkle), "toggled sparkle"
        return replace(scene, glyphs=scene.glyphs + (extra,)), f"added {extra.tag}"
    if change == "recolour_glyph":
        k = int(rng.integers(len(scene.glyphs)))
        g = scene.glyphs[k]
        colour = str(rng.choice([c for c in ("red", "blue", "green", "yellow", "purple", "pink") if c != g.colour]))
        new = replace(g, colour=colour, tag=object_tag(g.size, colour, g.shape, g.style))
        if new.tag in {x.tag for x in scene.glyphs}:
            return replace(scene, sparkle=not scene.sparkle), "toggled sparkle"
        return replace(scene, glyphs=scene.glyphs[:k] + (new,) + scene.glyphs[k + 1 :]), f"recoloured {g.tag} to {new.tag}"
    if change == "sparkle":
        return replace(scene, sparkle=not scene.sparkle), "toggled sparkle"
    k = int(rng.integers(len(scene.figures)))
    f = scene.figures[k]
    expressions = ("open_mouth",) if "open_mouth" not in f.expressions else ("smile",)
    return replace(
        scene, figures=scene.figures[:k] + (replace(f, expressions=expressions),) + scene.figures[k + 1 :]
    ), f"changed expression to {expressions[0]}"


def _ext(rng: np.random.Generator, transparent: bool, frames: int) -> str:
    if frames > 1:
        return "gif"
    if transparent:
        return "png" if rng.random() < 0.8 else "webp"
    return _EXTS.pick(rng)


def _post_ids_and_times(params: SynthParams, rng: np.random.Generator) -> tuple[np.ndarray, list[dt.datetime]]:
    """Increasing ids with gaps (expunged posts), and creation times that grow denser over the years."""
    ids = 1000 + np.cumsum(
        1 + rng.geometric(0.6, params.posts) - 1 + (rng.random(params.posts) < 0.05) * rng.integers(1, 40, params.posts)
    )
    span = (params.snapshot - dt.timedelta(days=2) - BOARD_START).total_seconds()
    u = np.sort(rng.random(params.posts)) ** 0.6
    times = [
        BOARD_START + dt.timedelta(seconds=float(s), microseconds=int(m))
        for s, m in zip(u * span, rng.integers(0, 999_999, params.posts))
    ]
    return ids.astype(np.int64), times


def sample_posts(vocab: Vocabulary, params: SynthParams, see: bool = True, workers: int = 1) -> list[Post]:
    """All posts of the board, in id order, with true tags, flags and planted problems.

    With ``see`` the true tags are what each picture shows (:mod:`.visibility`, measured in
    ``workers`` processes); without it (a board without images) every drawn part's tags."""
    rng = np.random.default_rng([params.seed, 2])
    n = params.posts
    ids, times = _post_ids_and_times(params, rng)
    is_dup = (rng.random(n) < params.duplicate_rate) & (np.arange(n) >= min(5, n))
    originals = np.flatnonzero(~is_dup)
    n_bad = min(len(originals), max(len(BAD_FILE_KINDS), int(round(n * params.bad_file_rate)))) if n >= 20 else 0
    bad_slots = {
        int(s): BAD_FILE_KINDS[i % len(BAD_FILE_KINDS)][0] for i, s in enumerate(rng.choice(originals, size=n_bad, replace=False))
    }

    posts: list[Post] = []
    by_id: dict[int, Post] = {}
    sources: list[int] = []  # slots of originals eligible as duplicate sources
    transparent_sources: list[int] = []
    opaque_sources: list[int] = []
    with progress("sampling posts", n) as advance:
        for slot in range(n):
            post_id, created = int(ids[slot]), times[slot]
            if is_dup[slot] and sources:
                kind = (_ALL_KINDS if params.reposts == "all" else _DUP_KINDS).pick(rng)
                if kind == "alpha_background" and not transparent_sources:
                    kind = "reencode"
                pool = transparent_sources if kind == "alpha_background" else sources
                src = posts[pool[int(rng.integers(len(pool)))]]
                post = _duplicate(vocab, params, src, kind, post_id, created, rng)
            elif slot not in bad_slots and opaque_sources and _plants_negative(params, rng):
                src = posts[opaque_sources[int(rng.integers(len(opaque_sources)))]]
                post = _hard_negative(vocab, params, src, str(rng.choice(HARD_NEGATIVE_KINDS)), post_id, created, rng)
                sources.append(slot)
                opaque_sources.append(slot)
            else:
                bad = bad_slots.get(slot)
                transparent = bad == "palette_transparency" or (bad is None and rng.random() < params.transparent_rate)
                frames = 4 if bad is None and not transparent and rng.random() < params.animated_rate else 1
                scene, rating = sample_scene(vocab, post_id, rng, params, transparent, frames)
                if bad == "png16":
                    scene = replace(scene, monochrome=True, greyscale=True)
                ext = {"cmyk_jpeg": "jpg", "png16": "png", "palette_transparency": "png", "decompression_bomb": "png"}.get(
                    bad or "", _ext(rng, transparent, frames)
                )
                width, height = BOMB_SIZE if bad == "decompression_bomb" else (scene.width, scene.height)
                post = Post(
                    post_id,
                    created,
                    created,
                    scene,
                    rating,
                    ext,
                    int(rng.integers(85, 96)),
                    width,
                    height,
                    set(),
                    _invisible_tags(vocab, rng, scene),
                    scene.artist,
                    bad=bad,
                )
                post.tag_scene = scene
                post.true_tags = (
                    file_meta_tags(vocab, width, height, transparent, frames, params.image_size) | post.invisible_tags
                )
                if bad is None and frames == 1:
                    sources.append(slot)
                    (transparent_sources if transparent else opaque_sources).append(slot)
            _history(post, params, rng)
            posts.append(post)
            by_id[post_id] = post
            if slot % 1000 == 999 or slot == n - 1:
                advance(slot % 1000 + 1)
    _sequence_children(posts, rng)
    hidden = hidden_parts_of([p.tag_scene for p in posts], vocab.styles, workers) if see else [None] * len(posts)
    for post, parts in zip(posts, hidden):
        post.true_tags = vocab.closure(scene_tags(post.tag_scene, vocab, parts) | post.true_tags)
    noise_rng = np.random.default_rng([params.seed, 4])
    for post in posts:
        if post.parent_id is not None and post.parent_id in by_id:
            by_id[post.parent_id].has_children = True
        _label_noise(post, vocab, params, noise_rng)
    return posts


def _duplicate(
    vocab: Vocabulary, params: SynthParams, src: Post, kind: str, post_id: int, created: dt.datetime, rng: np.random.Generator
) -> Post:
    dup_params = sample_params(kind, rng, src.ext)
    scene = src.scene
    if kind == "variant":
        scene, change = _variant_scene(src.scene, vocab, rng)
        dup_params["change"] = change
    width, height = transformed_size(kind, dup_params, src.width, src.height)
    transparent = src.scene.transparent and kind != "alpha_background"
    tag_scene = scene
    if kind == "overlay":
        tag_scene = replace(scene, watermark=True)
    elif kind == "greyscale":
        tag_scene = replace(scene, greyscale=True)
    elif kind == "signature":
        tag_scene = replace(scene, signature=True)
    elif kind == "caption":
        tag_scene = replace(scene, text=scene.text or "caption")
    elif kind == "alpha_background":
        tag_scene = replace(scene, transparent=False, background=f"{dup_params['colour']}_background")
    tags = file_meta_tags(vocab, width, height, transparent, src.scene.frames, params.image_size) | src.invisible_tags
    post = Post(
        post_id,
        created,
        created,
        scene,
        src.rating,
        dup_params["ext"],
        dup_params.get("quality") or src.quality,
        width,
        height,
        tags,
        set(src.invisible_tags),
        src.artist,
        dup_of=src.post_id,
        dup_kind=kind,
        dup_params=dup_params,
        tag_scene=tag_scene,
    )
    if kind == "variant" or rng.random() < 0.3:
        post.parent_id = src.post_id
    return post


HARD_NEGATIVE_KINDS = ("palette", "layout", "character")


def _plants_negative(params: SynthParams, rng: np.random.Generator) -> bool:
    """Whether this original is a hard negative (draws from ``rng`` only for ``reposts = "all"``,
    so that classic boards stay what they were)."""
    return params.reposts == "all" and rng.random() < params.hard_negative_rate


def _hard_negative(
    vocab: Vocabulary, params: SynthParams, src: Post, kind: str, post_id: int, created: dt.datetime, rng: np.random.Generator
) -> Post:
    """A different picture made to look like ``src``, of its size: the same background and figure
    colours (``palette``), figures in the same places with other looks (``layout``), or the same
    character design, by the same artist, posed elsewhere (``character``)."""
    fresh, rating = sample_scene(vocab, post_id, rng, params, False, 1)
    old = src.scene
    if kind == "character" and not old.figures:  # no character to share: the composition then
        kind = "layout"
    fresh = replace(fresh, width=old.width, height=old.height)
    if kind == "palette":
        figures = (
            tuple(replace(f, hair=o.hair, eyes=o.eyes) for f, o in zip(fresh.figures, old.figures))
            + fresh.figures[len(old.figures) :]
        )
        scene = replace(fresh, background=old.background or fresh.background, figures=figures)
    elif kind == "layout":
        figures = tuple(replace(f, x=o.x, y=o.y, scale=o.scale) for f, o in zip(fresh.figures, old.figures))
        glyphs = tuple(replace(g, x=o.x, y=o.y, size=o.size) for g, o in zip(fresh.glyphs, old.glyphs))
        glyphs = tuple(replace(g, tag=object_tag(g.size, g.colour, g.shape, g.style)) for g in glyphs)
        scene = replace(fresh, figures=figures, glyphs=glyphs, border=old.border)
    else:
        figures = tuple(replace(o, x=f.x, y=f.y, scale=f.scale) for f, o in zip(fresh.figures, old.figures)) or old.figures
        scene = replace(fresh, figures=figures, artist=old.artist)
    first: dict[str, Glyph] = {}  # two glyphs may have become one tag: keep the first
    for glyph in scene.glyphs:
        first.setdefault(glyph.tag, glyph)
    scene = replace(scene, glyphs=tuple(first.values()))
    ext = _ext(rng, False, 1)
    post = Post(
        post_id,
        created,
        created,
        scene,
        rating if scene.figures else "g",
        ext,
        int(rng.integers(85, 96)),
        scene.width,
        scene.height,
        set(),
        _invisible_tags(vocab, rng, scene),
        scene.artist,
        negative_of=src.post_id,
        negative_kind=kind,
    )
    meta = file_meta_tags(vocab, scene.width, scene.height, False, 1, params.image_size)
    post.tag_scene = scene
    post.true_tags = meta | post.invisible_tags
    return post


def _history(post: Post, params: SynthParams, rng: np.random.Generator) -> None:
    """Flags, scores, uploader and source, and an update time."""
    post.is_deleted = bool(rng.random() < params.deleted_rate)
    post.is_banned = bool(rng.random() < params.banned_rate)
    post.is_flagged = bool(rng.random() < params.flagged_rate)
    age_days = (params.snapshot - post.created_at).days
    post.is_pending = bool(age_days < 60 and rng.random() < params.pending_rate * 20) or bool(
        rng.random() < params.pending_rate / 5
    )
    post.score = int(rng.lognormal(1.6, 1.1)) - int(rng.integers(0, 3))
    post.up_score = max(post.score, 0) + int(rng.integers(0, 3))
    post.down_score = post.score - post.up_score
    post.fav_count = max(0, int(post.score * rng.uniform(0.8, 1.6)))
    post.uploader_id = int(rng.integers(1, 500_000))
    post.approver_id = None if post.is_pending or rng.random() < 0.6 else int(rng.integers(1, 2000))
    post.pixiv_id = int(rng.integers(1_000_000, 120_000_000)) if rng.random() < 0.45 else None
    post.source = (
        f"https://www.pixiv.net/artworks/{post.pixiv_id}"
        if post.pixiv_id
        else ("" if rng.random() < 0.5 else f"https://twitter.com/{post.artist}/status/{int(rng.integers(10**15, 10**18))}")
    )
    post.updated_at = min(
        params.snapshot - dt.timedelta(hours=1), post.created_at + dt.timedelta(days=float(rng.exponential(300)))
    )
    if rng.random() < 0.1:
        post.description = f'Commission for "{post.artist}".\nThanks for looking!\r\nMore at the link, "quoted", too.'


def _sequence_children(posts: list[Post], rng: np.random.Generator) -> None:
    """Parent/child links between different drawings by one artist (a sequence), as boards have."""
    by_artist: dict[str, list[Post]] = {}
    for post in posts:
        if post.dup_of is None and post.parent_id is None and rng.random() < 0.03:
            earlier = by_artist.get(post.artist)
            if earlier:
                post.parent_id = earlier[int(rng.integers(len(earlier)))].post_id
        by_artist.setdefault(post.artist, []).append(post)


def _label_noise(post: Post, vocab: Vocabulary, params: SynthParams, rng: np.random.Generator) -> None:
    """Plant missing and wrong general tags, then write the dump's tag list with its quirks
    (tags implied by another tag left out on some posts, old alias names on old posts)."""
    parents = vocab.active_parents_cached()
    general = sorted(t for t in post.true_tags if vocab.tags[t].category == "general")
    implied_by_present = {p for t in post.true_tags for p in parents.get(t, ())}
    droppable = [t for t in general if t not in implied_by_present]
    missing = sorted(t for t in droppable if rng.random() < params.missing_rate)
    kept = post.true_tags - set(missing)
    wrong: list[str] = []
    for _ in range(int(rng.poisson(params.wrong_rate * len(general)))):
        for _attempt in range(8):
            if rng.random() < 0.6:
                cand = vocab.sampler("objects").pick(rng)
            else:
                cand = vocab.visible_general[int(rng.integers(len(vocab.visible_general)))]
            if cand not in post.true_tags and cand not in wrong and set(parents.get(cand, ())) <= kept:
                wrong.append(cand)
                break
    post.missing, post.wrong = missing, sorted(wrong)
    dump = kept | set(wrong)
    if rng.random() < params.implied_omission_rate:
        implied = {p for t in dump for p in parents.get(t, ())}
        dump -= implied
    if post.created_at < ALIAS_ERA_END:
        old_names = vocab.old_names_cached()
        dump = {
            old_names[t] if t in old_names and rng.random() < 0.5 else t for t in sorted(dump)
        }  # sorted: one draw order in any process
    post.dump_tags = sorted(dump)
