"""Dagster resources and the providers behind them (LLM, image, speech, embeddings)."""
