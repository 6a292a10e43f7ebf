"""Local stack: Postgres, the services, the gateway and source-API fakes as processes."""
