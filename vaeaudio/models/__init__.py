"""VAE layouts and what works on them: `layouts.build(settings, shape)` returns the model a `TrainSettings`
describes; `saving` reads and writes model files; `kernels` chooses the matmul kernels; `sharpen` the power
decoded spectrograms are raised to.

Every layout maps x (B, bins, frames) in [0, 1] through an encoder to
(z_mean, z_log_var) (B, latent) and back through a decoder to logits
(B, bins, frames); see `vae.py` for the shared model and losses. Importing this
package is light: Keras is imported by the modules that define layers.
"""
