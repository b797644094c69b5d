"""The synthetic board's vocabulary: tags with visual signatures, categories, frequencies,
aliases and implications, plus the artists, copyrights and characters that use them.

Every general tag is *visible*: it names something the renderer draws (an object glyph, a
background, a hair colour, a border ...), so a tagger can learn it from pixels. Artist tags
change the drawing style; meta tags follow the file (size, alpha, frames).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

# name -> RGB. Object and background colours.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 215, 40),
    "green": (50, 165, 60),
    "aqua": (40, 200, 200),
    "blue": (40, 80, 220),
    "purple": (140, 60, 200),
    "pink": (245, 130, 190),
    "brown": (125, 78, 40),
    "black": (22, 22, 22),
    "white": (245, 245, 245),
    "grey": (128, 128, 128),
}
HAIR_COLOURS: dict[str, tuple[int, int, int]] = {
    "blonde": (245, 215, 110),
    "brown": (110, 65, 35),
    "black": (25, 25, 30),
    "red": (200, 35, 35),
    "blue": (50, 90, 220),
    "pink": (245, 140, 200),
    "purple": (135, 70, 190),
    "green": (60, 170, 80),
    "white": (240, 240, 240),
    "grey": (140, 140, 140),
    "orange": (240, 130, 30),
    "aqua": (60, 205, 205),
}
EYE_COLOURS: dict[str, tuple[int, int, int]] = {
    k: COLOURS.get(k, HAIR_COLOURS.get(k, (0, 0, 0)))
    for k in ("blue", "red", "green", "brown", "purple", "yellow", "pink", "grey", "orange", "aqua")
}
SHAPES: dict[str, str] = {  # shape -> its generic tag
    "circle": "circle",
    "square": "square",
    "triangle": "triangle",
    "star": "star_(symbol)",
    "heart": "heart",
    "diamond": "diamond_(shape)",
    "cross": "cross",
    "crescent": "crescent",
    "hexagon": "hexagon",
    "ring": "ring",
    "arrow": "arrow_(symbol)",
    "bolt": "lightning_bolt",
}
OBJECT_STYLES = ("solid", "outline", "striped")
OBJECT_SIZES = {"small": 0.10, "normal": 0.17, "large": 0.27}  # fraction of the short side

BACKGROUNDS: dict[str, float] = {  # background kind -> share of posts
    "white_background": 0.28,
    "grey_background": 0.08,
    "black_background": 0.03,
    "pink_background": 0.03,
    "blue_background": 0.03,
    "yellow_background": 0.02,
    "gradient_background": 0.12,
    "striped_background": 0.06,
    "polka_dot_background": 0.05,
    "checkered_background": 0.04,
    "grid_background": 0.04,
    "sky": 0.15,
    "night_sky": 0.07,
}

# Visible general tags besides objects, backgrounds and figures: tag -> probability per post.
EXTRA_VISIBLE = {
    "border": 0.0,  # set through the coloured borders below
    "english_text": 0.08,
    "speech_bubble": 0.05,
    "sparkle": 0.08,
    "monochrome": 0.05,
    "blurry": 0.03,
    "motion_lines": 0.03,
    "watermark": 0.01,
}
BORDER_COLOURS = ("black", "white", "pink")
ACCESSORIES = {  # figure accessory -> probability for a random (non-character) figure
    "hat": 0.12,
    "glasses": 0.08,
    "hair_bow": 0.10,
    "halo": 0.03,
    "horns": 0.04,
    "cat_ears": 0.06,
    "fox_ears": 0.03,
}
EXPRESSIONS = {"smile": 0.40, "open_mouth": 0.25, "blush": 0.20}
HAIR_LENGTHS = {"short_hair": 0.35, "long_hair": 0.40, "very_long_hair": 0.18, "absurdly_long_hair": 0.07}

# e621 species: name -> (ear kind, fur RGB); and the implication chains they sit in.
SPECIES: dict[str, tuple[str, tuple[int, int, int]]] = {
    "fox": ("pointed", (230, 120, 40)),
    "wolf": ("pointed", (120, 120, 130)),
    "domestic_dog": ("floppy", (170, 120, 70)),
    "domestic_cat": ("triangle", (90, 90, 90)),
    "lion": ("round", (215, 170, 80)),
    "rabbit": ("long", (235, 235, 235)),
    "dragon": ("horns", (60, 140, 80)),
    "bird": ("crest", (60, 110, 210)),
}
SPECIES_IMPLICATIONS = [
    ("fox", "canine"),
    ("canine", "canid"),
    ("canid", "mammal"),
    ("wolf", "canis"),
    ("domestic_dog", "canis"),
    ("canis", "canine"),
    ("domestic_cat", "felis"),
    ("felis", "feline"),
    ("lion", "pantherine"),
    ("pantherine", "feline"),
    ("feline", "felid"),
    ("felid", "mammal"),
    ("rabbit", "leporid"),
    ("leporid", "lagomorph"),
    ("lagomorph", "mammal"),
    ("dragon", "scalie"),
    ("bird", "avian"),
]

# Danbooru's category ids; e621 adds contributor, species, invalid, lore (meta moves to 7).
DANBOORU_CATEGORIES = {"general": 0, "artist": 1, "copyright": 3, "character": 4, "meta": 5}
E621_CATEGORIES = {
    "general": 0,
    "artist": 1,
    "contributor": 2,
    "copyright": 3,
    "character": 4,
    "species": 5,
    "invalid": 6,
    "meta": 7,
    "lore": 8,
}

_SYLLABLES = (
    "ka sa ta na ha ma ya ra wa ki shi chi ni hi mi ri ku su tsu nu fu mu yu ru ko so to no ho mo yo ro "
    "ga za da ba pa gi ji bi pi gu zu bu pu ge ze de be pe go zo do bo po rin ren kan shin tan mei yuu"
).split()
_COPYRIGHT_SUFFIXES = ("academy", "quest", "project", "chronicles", "online", "stars", "saga", "tales", "idol", "force")


class Weighted:
    """Values with weights, sampled by bisecting the cumulative weights (much cheaper per
    draw than ``Generator.choice(p=...)``, which rebuilds the CDF every call)."""

    def __init__(self, values, weights) -> None:
        self.values = list(values)
        cdf = np.cumsum(np.asarray(list(weights), np.float64))
        self._cdf = (cdf / cdf[-1]).tolist()

    def pick(self, rng: np.random.Generator):
        return self.values[min(bisect.bisect_right(self._cdf, rng.random()), len(self.values) - 1)]


@dataclass(frozen=True)
class TagSpec:
    """One tag of the synthetic vocabulary."""

    name: str
    category: str
    implies: tuple[str, ...] = ()  # direct implication consequents
    visible: bool = True  # drawn by the renderer (artists: through style)
    signature: str = ""  # what the renderer draws for it, for the truth files


@dataclass(frozen=True)
class ArtistStyle:
    """How one artist draws. All values are plain numbers so scenes pickle cheaply."""

    line_width: int  # outline width in px at 256 px
    outline: tuple[int, int, int] | None  # None: no outlines
    saturation: float  # ImageEnhance.Color factor
    hue_shift: int  # degrees, applied to the whole image
    noise: float  # Gaussian pixel noise sigma
    blur: float  # Gaussian blur radius; 0: none
    rounded: bool  # rounded rectangles and softer shapes
    signature_rate: float  # chance a post carries the artist's scribbled signature


@dataclass(frozen=True)
class Character:
    name: str
    copyright: str
    sex: str  # "girl" or "boy"; on e621 "female" or "male"
    hair: str
    eyes: str
    hair_length: str
    accessories: tuple[str, ...]
    species: str | None = None  # e621 only


@dataclass
class Vocabulary:
    """Everything the generator samples from, built once per (seed, flavour, size)."""

    flavour: str  # "danbooru" or "e621"
    tags: dict[str, TagSpec]
    object_tags: list[str]  # the full object tags (e.g. large_red_star_outline), Zipf order
    object_weights: np.ndarray  # (len(object_tags),) float64, sums to 1
    artists: list[str]
    artist_weights: np.ndarray  # (len(artists),) float64, sums to 1
    styles: dict[str, ArtistStyle]
    copyrights: list[str]
    characters: list[Character]
    character_weights: np.ndarray  # (len(characters),) float64, sums to 1
    aliases: list[tuple[str, str, str]] = field(default_factory=list)  # (antecedent, consequent, status)
    implications: list[tuple[str, str, str]] = field(default_factory=list)  # (antecedent, consequent, status)

    @property
    def categories(self) -> dict[str, int]:
        return E621_CATEGORIES if self.flavour == "e621" else DANBOORU_CATEGORIES

    _parents: dict[str, list[str]] | None = field(default=None, init=False, repr=False)
    _old_names: dict[str, str] | None = field(default=None, init=False, repr=False)
    _visible_general: list[str] | None = field(default=None, init=False, repr=False)
    _samplers: dict[str, Weighted] | None = field(default=None, init=False, repr=False)
    _by_character: dict[str, Character] | None = field(default=None, init=False, repr=False)

    def sampler(self, name: str) -> Weighted:
        """Cached weighted samplers: 'objects', 'artists', 'characters'."""
        if self._samplers is None:
            self._samplers = {
                "objects": Weighted(self.object_tags, self.object_weights),
                "artists": Weighted(self.artists, self.artist_weights),
                "characters": Weighted(self.characters, self.character_weights),
            }
        return self._samplers[name]

    def character(self, name: str) -> Character:
        if self._by_character is None:
            self._by_character = {c.name: c for c in self.characters}
        return self._by_character[name]

    def active_parents_cached(self) -> dict[str, list[str]]:
        if self._parents is None:
            self._parents = self.active_parents()
        return self._parents

    def old_names_cached(self) -> dict[str, str]:
        """Canonical tag -> its first active alias antecedent (the name old posts may still carry)."""
        if self._old_names is None:
            self._old_names = {}
            for antecedent, consequent, status in self.aliases:
                if status == "active":
                    self._old_names.setdefault(consequent, antecedent)
        return self._old_names

    @property
    def visible_general(self) -> list[str]:
        """Visible general tags that are not object glyph tags, in a stable order."""
        if self._visible_general is None:
            objects = set(self.object_tags)
            self._visible_general = sorted(
                t for t, spec in self.tags.items() if spec.category == "general" and spec.visible and t not in objects
            )
        return self._visible_general

    def active_parents(self) -> dict[str, list[str]]:
        """Direct active implications: tag -> consequents."""
        parents: dict[str, list[str]] = {}
        for antecedent, consequent, status in self.implications:
            if status == "active":
                parents.setdefault(antecedent, []).append(consequent)
        return parents

    def closure(self, tags: set[str]) -> set[str]:
        """``tags`` plus everything they imply through active implications, transitively."""
        parents = self.active_parents_cached()
        out = set(tags)
        stack = list(tags)
        while stack:
            for parent in parents.get(stack.pop(), ()):
                if parent not in out:
                    out.add(parent)
                    stack.append(parent)
        return out


def _zipf(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like weights over n items in a random order: (n,) float64 summing to 1."""
    ranks = rng.permutation(n) + 1
    weights = 1.0 / ranks.astype(np.float64) ** exponent
    return weights / weights.sum()


def _word(rng: np.random.Generator, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES, size=syllables))


def _unique_names(make, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = make()
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def object_tag(size: str, colour: str, shape: str, style: str) -> str:
    """The full tag of one object glyph, e.g. ``large_red_star_outline``."""
    base = (
        f"{colour}_{shape}"
        if style == "solid"
        else (f"{colour}_{shape}_outline" if style == "outline" else f"{colour}_striped_{shape}")
    )
    return base if size == "normal" else f"{size}_{base}"


def parse_object_tag(name: str) -> tuple[str, str, str, str]:
    """Inverse of :func:`object_tag`: (size, colour, shape, style)."""
    parts = name.split("_")
    size = "normal"
    if parts[0] in ("small", "large"):
        size, parts = parts[0], parts[1:]
    colour = parts[0]
    if parts[-1] == "outline":
        return size, colour, "_".join(parts[1:-1]), "outline"
    if parts[1] == "striped":
        return size, colour, "_".join(parts[2:]), "striped"
    return size, colour, "_".join(parts[1:]), "solid"


def build_vocabulary(seed: int, flavour: str, n_posts: int) -> Vocabulary:
    """Build the vocabulary for a board of ``n_posts`` posts.

    The object vocabulary is fixed (1,296 object tags + 12 shape tags); artists, copyrights
    and characters scale with the board so that a 100k-post board has thousands of tags.
    """
    rng = np.random.default_rng([seed, 1])
    e621 = flavour == "e621"
    tags: dict[str, TagSpec] = {}
    implications: list[tuple[str, str, str]] = []

    def add(name: str, category: str, implies: tuple[str, ...] = (), visible: bool = True, signature: str = "") -> None:
        tags[name] = TagSpec(name, category, implies, visible, signature)
        implications.extend((name, parent, "active") for parent in implies)

    # Objects: large_red_star_outline -> red_star_outline -> star_(symbol).
    for shape, generic in SHAPES.items():
        add(generic, "general", signature=f"any {shape} glyph")
    object_tags: list[str] = []
    for colour in COLOURS:
        for shape, generic in SHAPES.items():
            for style in OBJECT_STYLES:
                unsized = object_tag("normal", colour, shape, style)
                add(unsized, "general", (generic,), signature=f"{style} {colour} {shape}")
                object_tags.append(unsized)
                for size in ("small", "large"):
                    name = object_tag(size, colour, shape, style)
                    add(name, "general", (unsized,), signature=f"{size} {style} {colour} {shape}")
                    object_tags.append(name)
    object_weights = _zipf(len(object_tags), 0.9, rng)

    # Backgrounds.
    add("simple_background", "general", signature="a flat background colour")
    add("outdoors", "general", signature="sky backgrounds")
    add("night", "general", signature="a dark night sky")
    for name in BACKGROUNDS:
        implies: tuple[str, ...] = ()
        if name.endswith("_background") and name.split("_")[0] in COLOURS:
            implies = ("simple_background",)
        elif name == "sky":
            implies = ("outdoors",)
        elif name == "night_sky":
            implies = ("sky", "night")
        add(name, "general", implies, signature=name.replace("_", " "))

    # Other visible general tags.
    add("border", "general", signature="a frame around the image")
    for colour in BORDER_COLOURS:
        add(f"{colour}_border", "general", ("border",), signature=f"a {colour} frame")
    add("text", "general", signature="letters")
    add("english_text", "general", ("text",), signature="latin letters in a box")
    add("speech_bubble", "general", signature="a white ellipse with a tail")
    add("sparkle", "general", signature="small four-pointed stars")
    add("monochrome", "general", signature="no colour")
    add("greyscale", "general", ("monochrome",), signature="grey levels only")
    add("blurry", "general", signature="whole image blurred")
    add("motion_lines", "general", signature="parallel streaks")
    add("watermark", "general", signature="semi-transparent text across a corner")
    add("signature", "general", signature="the artist's scribble in a corner")

    # Figures.
    if e621:
        for count_tag in ("solo", "duo", "group", "zero_pictured", "anthro", "male", "female"):
            add(
                count_tag,
                "general",
                signature="figure count or body" if count_tag not in ("male", "female") else "figure body shape",
            )
        for name in sorted(set(n for pair in SPECIES_IMPLICATIONS for n in pair) | set(SPECIES)):
            parents = tuple(c for a, c in SPECIES_IMPLICATIONS if a == name)
            add(
                name,
                "species",
                parents,
                visible=name in SPECIES,
                signature="ears and fur of a species" if name in SPECIES else "implied by a species",
            )
        for colour in HAIR_COLOURS:
            add(f"{colour}_fur", "general", signature=f"{colour} head fill")
        for lore in ("male_(lore)", "female_(lore)", "intersex_(lore)"):
            add(lore, "lore", visible=False)
        add("invalid_tag", "invalid", visible=False)
        add("conditional_dnp", "contributor", visible=False)
    else:
        for count_tag in ("1girl", "2girls", "3girls", "multiple_girls", "1boy", "2boys", "multiple_boys", "solo", "no_humans"):
            add(
                count_tag,
                "general",
                ("multiple_girls",)
                if count_tag in ("2girls", "3girls")
                else (("multiple_boys",) if count_tag == "2boys" else ()),
                signature="figure count",
            )
        for colour in HAIR_COLOURS:
            add(f"{colour}_hair", "general", signature=f"{colour} hair")
        add("short_hair", "general", signature="hair above the shoulders")
        add("long_hair", "general", signature="hair below the shoulders")
        add("very_long_hair", "general", ("long_hair",), signature="hair to the waist")
        add("absurdly_long_hair", "general", ("very_long_hair",), signature="hair to the feet")
        add("animal_ears", "general", signature="ears on top of the head")
        add("bow", "general", signature="a bow anywhere")
        for accessory in ACCESSORIES:
            implies = ("animal_ears",) if accessory.endswith("_ears") else (("bow",) if accessory == "hair_bow" else ())
            add(accessory, "general", implies, signature=accessory.replace("_", " "))
    for colour in EYE_COLOURS:
        add(f"{colour}_eyes", "general", signature=f"{colour} eyes")
    for expression in EXPRESSIONS:
        add(expression, "general", signature=expression.replace("_", " "))

    # Meta tags follow the file, or are invisible bookkeeping.
    meta_names = (
        ("hi_res", "absurd_res", "low_res", "alpha_channel", "animated", "digital_media_(artwork)")
        if e621
        else (
            "highres",
            "absurdres",
            "lowres",
            "transparent_background",
            "animated",
            "animated_gif",
            "commentary_request",
            "translated",
            "bad_id",
            "bad_pixiv_id",
        )
    )
    visible_meta = {
        "hi_res",
        "absurd_res",
        "low_res",
        "alpha_channel",
        "animated",
        "highres",
        "absurdres",
        "lowres",
        "transparent_background",
        "animated_gif",
    }
    for name in meta_names:
        add(name, "meta", visible=name in visible_meta, signature="follows the file" if name in visible_meta else "")

    # Artists, copyrights, characters: counts scale with the board.
    n_artists = int(np.clip(n_posts // 40, 6, 6000))
    n_copyrights = int(np.clip(n_posts // 400, 3, 600))
    n_characters = int(np.clip(n_posts // 60, 6, 4000))
    artists = _unique_names(
        lambda: _word(rng, int(rng.integers(2, 4))) + (f"_{int(rng.integers(1, 999))}" if rng.random() < 0.2 else ""),
        n_artists,
    )
    styles: dict[str, ArtistStyle] = {}
    for artist in artists:
        outline_kind = rng.random()
        styles[artist] = ArtistStyle(
            line_width=int(rng.integers(1, 6)),
            outline=None
            if outline_kind < 0.15
            else ((20, 20, 20) if outline_kind < 0.7 else tuple(int(v) for v in rng.integers(0, 160, 3))),
            saturation=float(rng.uniform(0.55, 1.25)),
            hue_shift=int(rng.integers(-12, 13)),
            noise=float(rng.choice([0.0, 0.0, 3.0, 8.0])),
            blur=float(rng.choice([0.0, 0.0, 0.0, 0.7])),
            rounded=bool(rng.random() < 0.4),
            signature_rate=float(rng.choice([0.0, 0.1, 0.6])),
        )
        add(artist, "artist", signature="drawing style")
    artist_weights = _zipf(n_artists, 0.9, rng)

    copyrights = _unique_names(lambda: f"{_word(rng, 2)}_{rng.choice(_COPYRIGHT_SUFFIXES)}", n_copyrights)
    add("original", "copyright", visible=False)
    for name in copyrights:
        add(name, "copyright", signature="the franchise of its characters")
    characters: list[Character] = []
    for name in _unique_names(lambda: f"{_word(rng, 2)}_{_word(rng, 2)}", n_characters):
        copyright = copyrights[int(rng.integers(len(copyrights)))]
        full = f"{name}_({copyright.split('_')[0]})" if rng.random() < 0.3 else name
        if full in tags:
            continue
        if e621:
            sex = "female" if rng.random() < 0.6 else "male"
            species = str(rng.choice(list(SPECIES)))
            accessories = ()
        else:
            sex = "girl" if rng.random() < 0.75 else "boy"
            species = None
            accessories = tuple(a for a, p in ACCESSORIES.items() if rng.random() < p * 2.5)
        characters.append(
            Character(
                name=full,
                copyright=copyright,
                sex=sex,
                hair=str(rng.choice(list(HAIR_COLOURS))),
                eyes=str(rng.choice(list(EYE_COLOURS))),
                hair_length=str(rng.choice(list(HAIR_LENGTHS), p=list(HAIR_LENGTHS.values()))),
                accessories=accessories,
                species=species,
            )
        )
        add(full, "character", signature="a fixed look (hair, eyes, accessories)")
    character_weights = _zipf(len(characters), 1.0, rng)

    vocab = Vocabulary(
        flavour="e621" if e621 else "danbooru",
        tags=tags,
        object_tags=object_tags,
        object_weights=object_weights,
        artists=artists,
        artist_weights=artist_weights,
        styles=styles,
        copyrights=copyrights,
        characters=characters,
        character_weights=character_weights,
        implications=implications,
    )
    vocab.aliases, inactive = _plant_aliases(vocab, rng)
    vocab.implications = implications + inactive
    return vocab


def _plant_aliases(vocab: Vocabulary, rng: np.random.Generator) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Old names for some tags (active aliases), plus inactive aliases and implications that
    would corrupt labels if an ingest applied them."""
    aliases: list[tuple[str, str, str]] = []
    general = [t for t, spec in vocab.tags.items() if spec.category == "general"]
    for name in ("long_hair", "short_hair", "1girl", "solo", "english_text", "white_background", "sparkle", "star_(symbol)"):
        if name in vocab.tags:
            aliases.append((name.replace("_", "") if "_" in name else f"{name}s", name, "active"))
    for name in rng.choice(general, size=min(40, len(general)), replace=False):
        aliases.append((f"{name}_(old)", str(name), "active"))
    for character in vocab.characters[: max(2, len(vocab.characters) // 10)]:
        first, _, rest = character.name.partition("_")
        swapped = f"{rest.split('_(')[0]}_{first}"
        if swapped not in vocab.tags:
            aliases.append((swapped, character.name, "active"))
    for artist in vocab.artists[: max(2, len(vocab.artists) // 20)]:
        aliases.append((f"{artist}_(artist)", artist, "active"))
    # Inactive rows: applying any of these would rename or add a wrong tag.
    inactive_aliases: list[tuple[str, str, str]] = []
    inactive_implications: list[tuple[str, str, str]] = []
    for status, (a, b) in zip(
        ("deleted", "retired", "deleted", "pending" if vocab.flavour == "e621" else "retired"),
        rng.choice(general, size=(4, 2), replace=False),
    ):
        inactive_aliases.append((str(a), str(b), status))
    for status, (a, b) in zip(
        ("deleted", "pending" if vocab.flavour == "e621" else "deleted", "deleted"),
        rng.choice(general, size=(3, 2), replace=False),
    ):
        inactive_implications.append((str(a), str(b), status))
    return aliases + inactive_aliases, inactive_implications
