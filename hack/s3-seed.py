"""Talk to the local S3 server of hack/s3.sh with boto3, as AIDETECT_S3_* in the environment say.

    python3 hack/s3-seed.py ready                       can we write? (hack/s3.sh's wait; below)
    python3 hack/s3-seed.py seed BUCKET KEY=FILE...     create BUCKET if missing, upload each FILE
                                                        as KEY (hack/up.sh: aidetect-examples)

Path-style addressing and signature v4, as every client of the local server needs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client() -> Any:
    return boto3.client(
        "s3",
        endpoint_url=os.environ["AIDETECT_S3_ENDPOINT"],
        aws_access_key_id=os.environ["AIDETECT_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["AIDETECT_S3_SECRET_KEY"],
        region_name=os.environ.get("AIDETECT_S3_REGION", "us-east-1"),
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create BUCKET unless it exists (and is ours)."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        s3.create_bucket(Bucket=bucket)


READY_BUCKET = "aidetect-s3-ready"


def ready() -> None:
    """A signed ListBuckets, then an object written, read and deleted in a bucket of its own.

    weed answers reads a few seconds before it takes writes: its filer joins the master's lock
    ring (which every S3 object write takes a lock from) only after a peer scan of ~5 s.
    """
    s3 = client()
    s3.list_buckets()
    ensure_bucket(s3, READY_BUCKET)
    s3.put_object(Bucket=READY_BUCKET, Key="probe", Body=b"ok")
    if s3.get_object(Bucket=READY_BUCKET, Key="probe")["Body"].read() != b"ok":
        raise RuntimeError("s3: the probe object read back wrong")
    s3.delete_object(Bucket=READY_BUCKET, Key="probe")
    s3.delete_bucket(Bucket=READY_BUCKET)


def seed(bucket: str, uploads: dict[str, Path]) -> None:
    """Create BUCKET if missing and upload each file under its key."""
    s3 = client()
    ensure_bucket(s3, bucket)
    for key, path in uploads.items():
        s3.upload_file(str(path), bucket, key)
        sys.stderr.write(f"s3: uploaded {path} to s3://{bucket}/{key}\n")


def main(argv: list[str]) -> int:
    if argv[:1] == ["ready"]:
        ready()
        return 0
    if argv[:1] == ["seed"] and len(argv) >= 2:
        uploads = {}
        for arg in argv[2:]:
            key, sep, file = arg.partition("=")
            if not sep or not key or not file:
                sys.exit(f"s3-seed: expected KEY=FILE, got {arg!r}")
            uploads[key] = Path(file)
        seed(argv[1], uploads)
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
