"""Secrets backends: one module per backend behind :class:`SecretsPlugin`."""
