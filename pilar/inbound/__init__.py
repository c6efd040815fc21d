"""Inbound channels: each provider's webhook payload turned into normalised events.

One pure module per provider (``whatsapp``, ``retell``): signature checks and
parsers, with no database and no Flask, so each is tested on the provider's
published samples alone. ``pilar.services.inbound`` stores what they return;
another provider is another parser here, not another pipeline.
"""
