"""Knowledge: text extraction, chunking, embedders, indexing and hybrid retrieval."""
