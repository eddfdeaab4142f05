"""Defaults shared by the CLI and the app, in a module that imports nothing heavy (the CLI reads it at
start-up, before torch is needed)."""

DEFAULT_MODEL = "breuer2017-fer2013"  # the headline network (weights/manifest.json)
