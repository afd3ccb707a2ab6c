"""The worker: consumes tasks from RabbitMQ and runs the torch/transformers detectors."""
