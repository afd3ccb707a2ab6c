"""The DetectionTask custom resource's coordinates, named once for every component."""

from typing import Final

GROUP: Final = "aidetect.io"
VERSION: Final = "v1alpha1"
KIND: Final = "DetectionTask"
PLURAL: Final = "detectiontasks"
SHORT_NAME: Final = "dt"
CRD_NAME: Final = f"{PLURAL}.{GROUP}"
API_VERSION: Final = f"{GROUP}/{VERSION}"
