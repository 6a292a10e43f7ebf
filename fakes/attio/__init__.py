"""A local stand-in for the Attio REST v2 API, for tests and the demo stack.

`store` keeps the records and their value history, `datasets` and `demo`
fill it, `app` serves it in Attio's wire format, and `python -m fakes.attio`
runs it as a server.
"""

from fakes.attio.app import create_app
from fakes.attio.store import AttioStore, StoredRecord, WorkspaceMember

__all__ = ["AttioStore", "StoredRecord", "WorkspaceMember", "create_app"]
