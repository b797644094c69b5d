"""Taggers: K-fold heads on embeddings (out-of-fold predictions), external taggers, metrics."""

from .heads import RATINGS, TrainOptions, train_head
from .store import PredictionStore, tagger_folder
from .train import OUR_TAGGER, TrainReport, labelled_posts, run_train

__all__ = [
    "OUR_TAGGER",
    "PredictionStore",
    "RATINGS",
    "TrainOptions",
    "TrainReport",
    "labelled_posts",
    "run_train",
    "tagger_folder",
    "train_head",
]
