"""Layers shared by several plugins (one concept per module)."""
