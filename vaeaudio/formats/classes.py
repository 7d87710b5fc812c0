"""The class names of a set: the digits of AudioMNIST and FSDD (and of every set, run and classifier made before
sets had named classes), and the most classes a set may have. Imports nothing, so the paths that must stay light
(an export, without TensorFlow or h5py) can name classes too."""

#: The classes of a digit set, in label order: label k is the digit k.
DIGIT_CLASSES = tuple(str(d) for d in range(10))
#: The digits as words, index = digit (what the recogniser's grammar says; Speech Commands' folder names).
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: The most classes a set may have: labels are stored as int8 (`vaeaudio.formats.shards`).
MAX_CLASSES = 127
