"""The inbound webhook benchmark: ``python -m bench.webhooks``."""
