"""Stage 5, dedupe: exact and perceptual-hash duplicate edges, union-find groups."""

from .edges import HashTable, find_edges
from .search import radius_pairs
from .stage import DedupeReport, group_posts, pick_representative, run_dedupe
from .unionfind import UnionFind

__all__ = [
    "DedupeReport",
    "HashTable",
    "UnionFind",
    "find_edges",
    "group_posts",
    "pick_representative",
    "radius_pairs",
    "run_dedupe",
]
