from django.db import migrations

from ai_personas.models import INDEXED_DIMS


def _create(dims: int) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS ai_chunk_emb_{dims} ON ai_personas_chunk "
        f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}"
    )


class Migration(migrations.Migration):
    """One HNSW (cosine) index per embedding size: HNSW needs a fixed dimension, the column has
    none (a knowledge base keeps the size of the model it was indexed with; see models.py).
    Queries use the same expression and predicate (knowledge/retrieval.py)."""

    dependencies = [("ai_personas", "0001_initial")]

    operations = [
        migrations.RunSQL(_create(dims), reverse_sql=f"DROP INDEX IF EXISTS ai_chunk_emb_{dims}") for dims in INDEXED_DIMS
    ]
