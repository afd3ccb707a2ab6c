"""The only place that speaks S3: reading a corpus line by line, writing results in parts.

boto3 does the protocol (signing, retries of 5xx with backoff); this module gives the operator
what it needs of it and nothing else:

- `ObjectStore.keys` lists the objects of a prefix in key order (a resumed split starts after
  the object it was in);
- `ObjectStore.lines` streams an object's lines from a byte offset (a ranged GET), each with the
  offset just after it, so that a split can stop anywhere and resume there; a line longer than
  `MAX_LINE_BYTES` is skipped to its end and reported, never held whole;
- `ObjectStore.writer` uploads a stream of bytes as a multipart upload in parts of `PART_BYTES`
  (one PUT when it is small), and aborts the upload if the writer fails.

Errors leave as core's: a wrong bucket, key or credentials is the user's (`InvalidInput`); no
answer, a 5xx or a slow-down is `ObjectStoreUnavailable` (retry later).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from aidetect.core.corpus import S3Location
from aidetect.core.errors import InvalidInput, ObjectStoreUnavailable

MAX_LINE_BYTES = 4 << 20  # a record over this (far over MAX_TEXT_CHARS as JSON) is skipped
PART_BYTES = 8 << 20  # S3's minimum part is 5 MiB (but the last)
READ_CHUNK = 1 << 20
TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable",
     "InternalError", "503", "500", "502", "504"}
)  # fmt: skip


# One boto3 session for every client: a session loads S3's service model (about 14 MiB) once,
# where a session per client loaded it for each job, and the memory stayed. Creating clients
# from one session is not thread-safe, hence the lock.
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never in a log line
        return f"S3Credentials(access_key_id={self.access_key_id!r}, secret_access_key=***)"


@dataclass(frozen=True)
class Line:
    """One line of an object (without its newline), or None where it was too long to keep; and
    the byte offset just after it."""

    data: bytes | None
    end: int


@contextmanager
def _seam(
    what: str, *, bodiless: Mapping[str, str] | None = None, allowed: frozenset[str] = frozenset()
) -> Iterator[None]:
    """botocore's errors as core's. A HEAD's refusal has no body, so its code is the bare
    status: `bodiless` names the cause for such a status. An error code in `allowed` is no
    error (the block just ends)."""
    try:
        yield
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = error.get("Message") or code
        if code in allowed:
            return
        if code in TRANSIENT_CODES or status >= 500:
            raise ObjectStoreUnavailable(f"{what}: {code or status}: {message}") from e
        if bodiless and code in bodiless:
            raise InvalidInput(f"{what}: {bodiless[code]}") from e
        raise InvalidInput(f"{what}: {code or status}: {message}") from e
    except (botocore.exceptions.BotoCoreError, OSError) as e:
        # no answer, a dropped connection, a timeout (botocore's ConnectionError family)
        raise ObjectStoreUnavailable(f"{what}: {e}") from e


class ObjectStore:
    """A client for one S3 endpoint and one set of credentials."""

    def __init__(self, location: S3Location, credentials: S3Credentials) -> None:
        endpoint = location.endpoint or ""
        style = "virtual" if endpoint.endswith("amazonaws.com") else "path"
        with _SESSION_LOCK:
            self._client: Any = _SESSION.client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=location.region,
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
                config=botocore.config.Config(
                    s3={"addressing_style": style},
                    signature_version="s3v4",
                    connect_timeout=5,
                    read_timeout=60,
                    retries={"max_attempts": 4, "mode": "standard"},
                ),
            )
        self.bucket = location.bucket

    def keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        """The keys under `prefix`, in key order, after `start_after`; a page at a time."""
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                args["ContinuationToken"] = token
            elif start_after:
                args["StartAfter"] = start_after
            with _seam(f"list s3://{self.bucket}/{prefix}"):
                page = self._client.list_objects_v2(**args)
            for entry in page.get("Contents", []):
                if not entry["Key"].endswith("/"):  # a folder marker holds no records
                    yield entry["Key"]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def check_bucket(self) -> None:
        """Raise `InvalidInput` unless the bucket exists and these credentials may use it
        (some servers create a missing bucket on the first PUT; S3 refuses it at the end)."""
        causes = {
            "404": f"NoSuchBucket: there is no bucket {self.bucket!r}",
            "403": f"AccessDenied: these credentials may not use bucket {self.bucket!r} (wrong "
            "keys, or no s3:ListBucket on it)",
        }
        with _seam(f"check s3://{self.bucket}", bodiless=causes):
            self._client.head_bucket(Bucket=self.bucket)

    def check_readable(self, key: str | None, prefix: str | None) -> None:
        """Raise `InvalidInput`, with the store's error code, unless the object (or the
        prefix's listing) can be read: one byte of the object, or one key of the listing."""
        if key is None:
            with _seam(f"list s3://{self.bucket}/{prefix or ''}"):
                self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix or "", MaxKeys=1)
            return
        # An empty object has no byte 0 (InvalidRange), and is readable.
        with _seam(f"read s3://{self.bucket}/{key}", allowed=frozenset({"InvalidRange"})):
            self._client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")["Body"].close()

    def size(self, key: str) -> int:
        causes = {"404": "NoSuchKey: no such object", "403": "AccessDenied: it may not be read"}
        with _seam(f"head s3://{self.bucket}/{key}", bodiless=causes):
            return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def lines(self, key: str, offset: int = 0) -> Iterator[Line]:
        """The object's lines from byte `offset` on (a ranged GET), each with the offset after
        it. A last line without a newline counts too; a line over MAX_LINE_BYTES comes as
        `Line(None, end)`."""
        what = f"read s3://{self.bucket}/{key}"
        if offset and offset >= self.size(key):
            return
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if offset:
            args["Range"] = f"bytes={offset}-"
        with _seam(what):
            body = self._client.get_object(**args)["Body"]
        try:
            yield from _split_lines(_chunks(body, what), offset)
        finally:
            body.close()

    @contextmanager
    def writer(self, key: str, content_type: str = "application/x-ndjson") -> Iterator[Writer]:
        """A writer whose bytes become the object `key` when the block ends without error."""
        w = Writer(self._client, self.bucket, key, content_type)
        try:
            yield w
        except BaseException:
            w.abort()
            raise
        w.close()


def _chunks(body: Any, what: str) -> Iterator[bytes]:
    with _seam(what):
        yield from body.iter_chunks(READ_CHUNK)


def _split_lines(chunks: Iterator[bytes], offset: int) -> Iterator[Line]:
    """Lines from a stream of chunks that starts at byte `offset` of the object."""
    pending = bytearray()
    overlong = False  # inside a line that is past MAX_LINE_BYTES: drop bytes until its end
    pos = offset
    for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                if not overlong:
                    pending += chunk[start:]
                    overlong = len(pending) > MAX_LINE_BYTES
                    if overlong:
                        pending.clear()
                pos += len(chunk) - start
                break
            piece = chunk[start:nl]
            pos += len(piece) + 1
            if overlong or len(pending) + len(piece) > MAX_LINE_BYTES:
                yield Line(None, pos)
            else:
                yield Line(bytes(pending + piece), pos)
            pending.clear()
            overlong = False
            start = nl + 1
    if overlong:
        yield Line(None, pos)
    elif pending:
        yield Line(bytes(pending), pos)


class Writer:
    """Bytes to one object: a multipart upload once they pass PART_BYTES, else one PUT."""

    def __init__(self, client: Any, bucket: str, key: str, content_type: str) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.written = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._what = f"write s3://{bucket}/{key}"

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.written += len(data)
        if len(self._buffer) >= PART_BYTES:
            self._upload_part()

    def _upload_part(self) -> None:
        with _seam(self._what):
            if self._upload_id is None:
                self._upload_id = self._client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.key, ContentType=self.content_type
                )["UploadId"]
            number = len(self._parts) + 1
            etag = self._client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=bytes(self._buffer),
            )["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})
        self._buffer.clear()

    @property
    def parts(self) -> int:
        return len(self._parts)

    def close(self) -> None:
        if self._upload_id is None:
            with _seam(self._what):
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=bytes(self._buffer),
                    ContentType=self.content_type,
                )
            return
        if self._buffer:
            self._upload_part()
        with _seam(self._what):
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )

    def abort(self) -> None:
        """Drop the parts uploaded so far (best effort: a lifecycle rule reaps what is left)."""
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError):
            pass  # the upload stays incomplete, invisible as an object


__all__ = ["Line", "ObjectStore", "S3Credentials", "Writer"]
