"""The audio settings' defaults: the reference pipeline's (`docs/reference.md`), the one home of each."""

from __future__ import annotations

#: Sample rate every clip is resampled to, in Hz.
SAMPLE_RATE = 22050
#: Clip length after trimming/padding, in samples (0.8 s at 22,050 Hz).
CLIP_SAMPLES = 17640
#: STFT frame length in samples (-> 257 frequency bins).
N_FFT = 512
#: STFT hop in samples (-> 69 centred frames for 17,640 samples).
HOP_LENGTH = 256
#: Dynamic range kept below each clip's maximum, in dB.
TOP_DB = 80.0
#: Default Griffin-Lim iterations of synthesis and evaluation
#: (64 lose generated digits' clarity: docs/intelligibility.md).
GRIFFIN_LIM_ITERS = 200
