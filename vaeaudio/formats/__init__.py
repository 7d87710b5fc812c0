"""The files between stages: spectrogram sets and their shards, run directories, latent mixtures."""
