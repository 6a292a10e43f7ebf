"""Offline evaluation of the RAG service's retrieval on the public support data."""
