"""booru-curate: dataset curation and label cleaning for tagged image boards.

The library never imports Prefect; ``flows/`` wraps it. Stages live in subpackages
(``ingest``, ``select``, ``images``, ...); ``synth`` makes synthetic boards with ground truth.
"""

__version__ = "0.1.0"
