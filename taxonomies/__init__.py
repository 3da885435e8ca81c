"""Taxonomies: label schemas, ontology loaders and indexes, rules kept as data."""
