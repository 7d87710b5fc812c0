"""The signal chain: waveforms <-> normalised dB spectrograms (dsp), spectrograms -> sound (render), pictures
(plots)."""
