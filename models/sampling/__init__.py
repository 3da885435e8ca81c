"""Sampling: uncertainty scores (pure functions ``proba -> scores``) and selection."""
