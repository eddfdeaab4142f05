"""Micro-expressions: spot and classify brief facial movements in clips.

Modules (each imported on its own; this package imports nothing heavy):
  synthetic  clips drawn by the project with known expression intervals (training, tests, demo)
  labels     the MEGC 3 classes, CASME II's classes and the mappings onto them
  metrics    UF1, UAR, leave-one-subject-out splits and the MEGC spotting metric
  video      face track and per-frame CNN features, streamed
  spotting   the training-free spotter: deviation from a sliding baseline, peaks, kinds
  lstm       the LSTM over feature sequences (Breuer & Kimmel 2017) for spotting and recognition
"""
