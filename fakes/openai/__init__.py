"""Fake of OpenAI's embeddings and chat completions API, for tests and local runs."""

from fakes.openai.app import Faults, create_app
from fakes.openai.server import serve_in_thread

__all__ = ["Faults", "create_app", "serve_in_thread"]
