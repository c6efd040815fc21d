"""PILAR backend: the multi-tenant core of the service for fitness studios."""

from __future__ import annotations

from pilar.app import create_app

__all__ = ["create_app"]
