"""Helpers shared by the tests: service lifecycle, kubectl, factories and tiny models."""
