"""The S3 server of hack/s3.sh as tests see it: its address and credentials, and boto3 clients."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

# boto3 has no type stubs here: a client is untyped.
S3Client = Any


@dataclass(frozen=True)
class S3Service:
    """Where a real S3-compatible server is and the credentials of its admin identity."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def s3_client(service: S3Service, *, secret_key: str | None = None) -> S3Client:
    """A boto3 S3 client for SERVICE: path-style addressing, signature v4, no retries.

    secret_key replaces the service's own (to see a wrongly signed request refused).
    """
    return boto3.client(
        "s3",
        endpoint_url=service.endpoint,
        aws_access_key_id=service.access_key,
        aws_secret_access_key=service.secret_key if secret_key is None else secret_key,
        region_name=service.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def unique_bucket_name(prefix: str = "t") -> str:
    """A fresh valid bucket name (lowercase, 3-63 characters)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def empty_and_delete_bucket(client: S3Client, bucket: str) -> None:
    """Abort unfinished multipart uploads, delete every object, then the bucket."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)
