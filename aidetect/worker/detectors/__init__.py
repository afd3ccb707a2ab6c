"""Detectors: models that score texts as AI-generated or human-written.

Importing this package registers every implemented kind, so `load_detector` can serve them.
"""

from aidetect.worker.detectors import binoculars, fast_detectgpt, hf_classifier, perplexity
from aidetect.worker.detectors.base import Detector, load_detector, register, registered_kinds

__all__ = [
    "Detector",
    "binoculars",
    "fast_detectgpt",
    "hf_classifier",
    "load_detector",
    "perplexity",
    "register",
    "registered_kinds",
]
