"""Secrets the service keeps: password hashes, integration secrets sealed at rest."""
