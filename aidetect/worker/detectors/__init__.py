"""Detectors: models that score texts as AI-generated or human-written.

Importing this package registers every implemented kind, so `load_detector` can serve them.
"""

from aidetect.worker.detectors import hf_classifier
from aidetect.worker.detectors.base import Detector, load_detector, register, registered_kinds

__all__ = ["Detector", "hf_classifier", "load_detector", "register", "registered_kinds"]
