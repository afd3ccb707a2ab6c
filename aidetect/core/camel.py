"""The base of every model that crosses a boundary: camelCase on the wire, like the Kubernetes
API, snake_case in Python, and immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A model that reads and writes camelCase, like the Kubernetes API."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
