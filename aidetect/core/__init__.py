"""The shared core: settings, task model, state machine, and the seams to the DB, queue and API.

It imports without torch, FastAPI or kopf, so every component can depend on it.
"""
