"""Where a run's numbers go: the local results store and Weights & Biases."""
