"""Datasets, targets and splits for the learned models (torch only where a Dataset needs it)."""
