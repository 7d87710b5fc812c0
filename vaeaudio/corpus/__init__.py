"""Corpus -> spectrogram set: download and extract, scan a source tree, split, preprocess."""
