"""The synthetic board generator: realistic dumps, images and ground truth, offline.

Our stand-in for Danbooru and e621 (nothing can be downloaded on these machines): every
general tag is drawn, so taggers can learn it; duplicates, bad files and label noise are
planted with their truth in ``OUT/truth/`` (formats in :mod:`curation.synth.truth`).
"""

from .board import generate_board
from .posts import SynthParams
from .writers import FORMATS

__all__ = ["FORMATS", "SynthParams", "generate_board"]
