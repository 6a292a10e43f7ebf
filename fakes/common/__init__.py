"""Pieces shared by the fakes of third-party APIs."""
