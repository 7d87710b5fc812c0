"""What a listener gets: synth (latent points -> WAV) and the report page."""
