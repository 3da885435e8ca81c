"""Models: pre-annotation models and sampling strategies."""
