"""Use cases: one function each, session work in, models out; no HTTP, no click."""
