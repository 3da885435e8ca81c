"""Image region proposals: cold-start classical proposers, a trainable box detector and a mask model."""
