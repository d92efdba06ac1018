from django.db import migrations

from ai_personas.models import INDEXED_DIMS, hnsw_index_sql


class Migration(migrations.Migration):
    """The HNSW indexes again with ef_construction 128 (pgvector's default 64 gave 0.92
    recall@10 on the benchmark's 100,000 chunks; see HNSW_EF_CONSTRUCTION in models.py)."""

    dependencies = [("ai_personas", "0002_hnsw_indexes")]

    operations = [
        op
        for dims in INDEXED_DIMS
        for op in (
            migrations.RunSQL(f"DROP INDEX IF EXISTS ai_chunk_emb_{dims}", reverse_sql=migrations.RunSQL.noop),
            migrations.RunSQL(hnsw_index_sql(dims), reverse_sql=migrations.RunSQL.noop),
        )
    ]
