"""aidetect: a Kubernetes operator that runs AI-generated-text detection as jobs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aidetect")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
