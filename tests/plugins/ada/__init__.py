"""Tests of the ada augmentation plugin."""
