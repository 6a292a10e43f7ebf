"""A local stand-in for the Chatwoot Application API, for tests and the demo stack.

`store` keeps the data, `datasets` and `demo` fill it, `app` serves it with
Chatwoot's wire format, and `python -m fakes.chatwoot` runs it as a server.
"""
