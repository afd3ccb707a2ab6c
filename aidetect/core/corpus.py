"""Corpus jobs: a task whose texts come from JSONL (or plain lines) in S3-compatible storage.

The spec names where the corpus is (`CorpusSource`), where the results go (`CorpusOutput`) and how
many bad items the job tolerates (`FailurePolicy`). The CRD states the same fields and limits.

A corpus never passes through the CR: the operator streams it from the object store into the
task's items (`SplitCursor` says how far it got, so a restarted operator resumes there), and
writes the results back as JSONL when every item is done (`CorpusState` is what the database
keeps of all this). Credentials stay in the namespace's Secret; only its name is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from aidetect.core.camel import CamelModel

# A Secret's keys for the credentials: KServe's and the AWS CLI's names.
ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
SESSION_TOKEN = "AWS_SESSION_TOKEN"
DEFAULT_REGION = "us-east-1"


class SecretRef(CamelModel):
    name: str = Field(min_length=1, max_length=253)


class S3Location(CamelModel):
    """An object (`key`) or every object under a `prefix`, in a bucket of an S3 endpoint."""

    endpoint: str | None = Field(default=None, max_length=2048)
    bucket: str = Field(min_length=3, max_length=63)
    key: str | None = Field(default=None, min_length=1, max_length=1024)
    prefix: str | None = Field(default=None, max_length=1024)
    region: str = Field(default=DEFAULT_REGION, min_length=1, max_length=64)

    def url(self, key: str | None = None) -> str:
        """s3://bucket/key, as logs and the CR show it."""
        return f"s3://{self.bucket}/{key or self.key or self.prefix or ''}"


class CorpusSource(CamelModel):
    s3: S3Location
    credentials_secret_ref: SecretRef
    format: Literal["jsonl", "lines"] = "jsonl"
    text_field: str = Field(default="text", min_length=1, max_length=256)
    id_field: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _key_or_prefix(self) -> CorpusSource:
        if (self.s3.key is None) == (self.s3.prefix is None):
            raise ValueError("source.s3 needs exactly one of key or prefix")
        if self.s3.endpoint is None:
            raise ValueError("source.s3.endpoint is required")
        return self


class CorpusOutput(CamelModel):
    """Where the results JSONL goes; the endpoint, region and credentials default to the
    source's."""

    s3: S3Location
    credentials_secret_ref: SecretRef | None = None
    format: Literal["jsonl"] = "jsonl"

    @model_validator(mode="after")
    def _key(self) -> CorpusOutput:
        if self.s3.key is None or self.s3.prefix is not None:
            raise ValueError("output.s3 needs a key (and no prefix)")
        return self

    def resolved(self, source: CorpusSource) -> tuple[S3Location, SecretRef]:
        """The output location and credentials, with the source's filling what is not given."""
        location = self.s3
        if location.endpoint is None:
            location = location.model_copy(update={"endpoint": source.s3.endpoint})
        return location, self.credentials_secret_ref or source.credentials_secret_ref


class FailurePolicy(CamelModel):
    """How many items may fail (bad lines, unscorable texts) before the whole task fails."""

    max_failed_items: int | None = Field(default=None, ge=0)


class SplitCursor(CamelModel):
    """Where the splitting of a corpus resumes: the object, the byte offset of the next record
    in it, and the index the next record gets (items are keyed by their position in the
    source, so a resumed split writes no item twice)."""

    key: str
    offset: int = 0
    index: int = 0
    line: int = 0  # lines read in this object so far (a record's default id is key:line)


class CorpusState(CamelModel):
    """What the database keeps of a corpus job."""

    source: CorpusSource
    output: CorpusOutput | None = None
    split_done: bool = False
    cursor: SplitCursor | None = None
    output_location: str | None = None
    output_lines: int | None = None


@dataclass(frozen=True)
class SplitItem:
    """A record of the source: its text, or why it cannot be an item (then it is written
    failed)."""

    index: int
    source_id: str
    text: str = ""
    problem: str | None = None


@dataclass(frozen=True)
class SplitOutcome:
    """What a batch of the split did: the items recorded so far, and whether to go on (False
    once the task left Pending: cancelled, failed, past its deadline)."""

    total: int
    failed: int
    go_on: bool
