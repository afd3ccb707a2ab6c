"""The S3 server of hack/s3.sh (SeaweedFS) answers boto3 the way the operator will use it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.utils.objects import S3Client, S3Service, s3_client
from tests.utils.services import LocalServices

MiB = 1024 * 1024


def test_put_then_get_returns_the_same_bytes(bucket: tuple[S3Client, str]) -> None:
    client, name = bucket
    body = b'{"text": "hello"}\n' * 100
    client.put_object(Bucket=name, Key="corpora/a.jsonl", Body=body)
    got = client.get_object(Bucket=name, Key="corpora/a.jsonl")
    assert got["Body"].read() == body
    assert got["ContentLength"] == len(body)


def test_ranged_get_from_an_offset_returns_the_tail(bucket: tuple[S3Client, str]) -> None:
    client, name = bucket
    body = os.urandom(100_000)
    client.put_object(Bucket=name, Key="tail.bin", Body=body)
    offset = 12_345
    got = client.get_object(Bucket=name, Key="tail.bin", Range=f"bytes={offset}-")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {offset}-{len(body) - 1}/{len(body)}"
    assert got["Body"].read() == body[offset:]


def test_multipart_upload_of_three_parts_reads_back_identical(
    bucket: tuple[S3Client, str],
) -> None:
    client, name = bucket
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 17)]
    upload = client.create_multipart_upload(Bucket=name, Key="big.bin")
    done = []
    for number, data in enumerate(parts, start=1):
        part = client.upload_part(
            Bucket=name, Key="big.bin", UploadId=upload["UploadId"], PartNumber=number, Body=data
        )
        done.append({"PartNumber": number, "ETag": part["ETag"]})
    result = client.complete_multipart_upload(
        Bucket=name, Key="big.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    assert result["ETag"].strip('"').endswith("-3")
    whole = b"".join(parts)
    got = client.get_object(Bucket=name, Key="big.bin")
    assert got["ContentLength"] == len(whole)
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(whole).digest()


def test_a_wrong_secret_key_is_refused(
    object_store: S3Service, bucket: tuple[S3Client, str]
) -> None:
    _client, name = bucket
    wrong = s3_client(object_store, secret_key=object_store.secret_key + "-wrong")
    with pytest.raises(ClientError) as refused:
        wrong.list_objects_v2(Bucket=name)
    assert refused.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")
    with pytest.raises(ClientError) as refused:
        wrong.put_object(Bucket=name, Key="x", Body=b"x")
    assert refused.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied")


def test_an_unsigned_request_is_refused(
    object_store: S3Service, bucket: tuple[S3Client, str]
) -> None:
    client, name = bucket
    client.put_object(Bucket=name, Key="private", Body=b"secret")
    anonymous = s3_client(object_store)
    anonymous.meta.events.register_first(
        "choose-signer.s3.*", lambda **_: UNSIGNED, unique_id="unsigned"
    )
    with pytest.raises(ClientError) as refused:
        anonymous.get_object(Bucket=name, Key="private")
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "403")


def test_list_objects_v2_with_prefix_and_start_after(bucket: tuple[S3Client, str]) -> None:
    client, name = bucket
    keys = [f"corpora/part-{i:03d}.jsonl" for i in range(6)] + ["other/x.jsonl", "top.jsonl"]
    for key in keys:
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    page = client.list_objects_v2(
        Bucket=name, Prefix="corpora/", StartAfter="corpora/part-002.jsonl"
    )
    assert [o["Key"] for o in page["Contents"]] == [
        f"corpora/part-{i:03d}.jsonl" for i in (3, 4, 5)
    ]
    assert page["KeyCount"] == 3
    assert not page["IsTruncated"]
    first = client.list_objects_v2(Bucket=name, Prefix="corpora/", MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == keys[:2]
    assert first["IsTruncated"]


def _listening_addresses(pid: int) -> set[str]:
    """host:port of every TCP socket PID listens on (its fds matched against /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                host, port = fields[1].split(":")
                if len(host) == 8:
                    addr = ".".join(str(b) for b in reversed(bytes.fromhex(host)))
                else:
                    addr = f"[{host}]"
                found.add(f"{addr}:{int(port, 16)}")
    return found


def test_weed_listens_on_loopback_only(services: LocalServices, object_store: S3Service) -> None:
    if "s3.sh" not in services.started:
        pytest.skip(
            "the S3 server was given by AIDETECT_S3_ENDPOINT; this session did not start it"
        )
    pid = int((services.state_dir / "s3" / "weed.pid").read_text())
    addresses = _listening_addresses(pid)
    port = object_store.endpoint.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}" in addresses
    assert len(addresses) >= 8  # master, volume, filer and S3, each with its gRPC port
    assert {a for a in addresses if not a.startswith("127.0.0.1:")} == set()
