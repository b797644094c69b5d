"""Leak-free train/val/test splits: units that must stay together, schemes, leakage checks, manifests."""

from .leakage import LeakageReport, check_leakage, read_split_file
from .stage import PLAIN_ID_MOD, SPLITS, SplitReport, build_units, check_split, run_split
from .stratify import iterative_stratification, stable_fraction

__all__ = [
    "LeakageReport",
    "PLAIN_ID_MOD",
    "SPLITS",
    "SplitReport",
    "build_units",
    "check_leakage",
    "check_split",
    "iterative_stratification",
    "read_split_file",
    "run_split",
    "stable_fraction",
]
