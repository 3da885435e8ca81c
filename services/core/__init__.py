"""Core of cliniloop: settings, schemas (tasks, predictions, regions) and the SQL store."""
