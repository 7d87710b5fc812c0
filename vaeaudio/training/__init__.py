"""Training a VAE: batches, distribution, checkpoints, previews and the train verb."""
