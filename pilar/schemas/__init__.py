"""Marshmallow schemas: one per input, one per output shape."""
