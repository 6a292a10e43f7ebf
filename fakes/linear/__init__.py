"""A local stand-in for Linear's GraphQL API, for tests and the demo stack.

`store` keeps the data, `datasets` fills it, `app` serves it over Linear's
schema and wire format, and `python -m fakes.linear` runs it as a server.
"""

from fakes.linear.app import create_app, load_schema
from fakes.linear.store import LinearStore

__all__ = ["LinearStore", "create_app", "load_schema"]
