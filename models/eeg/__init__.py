"""EEG models: epoch features, seizure detection, artifact flags, sleep staging."""
