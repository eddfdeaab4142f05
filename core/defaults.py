"""Defaults shared by the CLI and the app, in a module that imports nothing heavy (the CLI reads it at
start-up, before torch is needed)."""

DEFAULT_MODEL = "breuer2017-fer2013"  # the headline network (weights/manifest.json)
DEFAULT_MICRO_MODEL = "micro-lstm-synthetic"  # the shipped MicroLSTM spotter
MICRO_FEATURE_MODEL = "fan2019-fer2013"  # the CNN whose per-frame features the MicroLSTMs read
INPUT_SIZE = 48  # the side of the gray crops every FER model takes
