"""Learned models (torch): one module per architecture, imported explicitly (no eager imports)."""
