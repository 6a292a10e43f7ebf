"""The reconcile service: the source systems against the raw tables and the mirror."""
