"""RAG: chunk index, embedding-version governance, evaluation and retrieval."""
