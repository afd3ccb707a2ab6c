"""The kopf operator: records DetectionTasks, dispatches them, and writes status back."""
