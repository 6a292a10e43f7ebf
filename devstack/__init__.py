"""Local stack: Postgres, services, gateway and source-API fakes as processes."""
