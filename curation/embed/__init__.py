"""Image embeddings: offline models, a float16 store keyed by (file md5, embedder), the stage."""

from .models import Embedder, EmbedderSpec, embedder_id, load_embedder
from .stage import EmbedReport, configured_embedder_id, load_vectors, plain_embedder_id, run_embed
from .store import EmbeddingStore

__all__ = [
    "Embedder",
    "EmbedderSpec",
    "EmbedReport",
    "EmbeddingStore",
    "configured_embedder_id",
    "embedder_id",
    "load_embedder",
    "load_vectors",
    "plain_embedder_id",
    "run_embed",
]
