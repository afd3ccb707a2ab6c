"""The tenants file: its shape, the admin token beside it, and reloading when the file changes."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from aidetect.api.tenants import TenantRegistry, TenantsFileError, parse_tenants
from tests.unit.api.conftest import TENANTS, write_tenants


def test_a_tenant_by_token_and_one_by_sha256_are_both_found(tenants_file: Path) -> None:
    registry = TenantRegistry(str(tenants_file))

    team_a, team_b = registry.find("team-a-token"), registry.find("team-b-token")

    assert team_a is not None and team_a.name == "team-a"
    assert team_a.namespaces == ("team-a", "shared") and not team_a.is_admin
    assert team_b is not None and team_b.namespaces == ("team-b",)
    assert registry.find("team-b-token ") is None
    assert registry.find(hashlib.sha256(b"team-b-token").hexdigest()) is None


def test_star_makes_an_admin_and_the_legacy_token_is_one_too(tenants_file: Path) -> None:
    registry = TenantRegistry(str(tenants_file), admin_token="legacy")

    ops, legacy = registry.find("ops-token"), registry.find("legacy")

    assert ops is not None and ops.is_admin and ops.may_use("anything")
    assert legacy is not None and legacy.is_admin and legacy.name == "admin"
    assert legacy.default_namespace("default") == "default"


def test_the_legacy_token_alone_is_the_only_tenant() -> None:
    registry = TenantRegistry(None, admin_token="only-one")

    assert [t.name for t in registry.tenants()] == ["admin"]
    assert registry.find("only-one") is not None
    assert registry.find("") is None


def test_a_tenant_defaults_to_its_first_namespace() -> None:
    (tenant,) = parse_tenants("tenants: [{name: a, token: t, namespaces: [b, c]}]")

    assert tenant.default_namespace("default") == "b"
    assert tenant.may_use("c") and not tenant.may_use("default")


def test_a_json_file_is_read_as_well() -> None:
    (tenant,) = parse_tenants('{"tenants": [{"name": "a", "token": "t", "namespaces": ["x"]}]}')

    assert tenant.namespaces == ("x",)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("tenants: []", "at least 1"),
        ("tenants: [{name: a, namespaces: [x]}]", "exactly one of token or sha256"),
        ("tenants: [{name: a, token: t, sha256: '" + "0" * 64 + "', namespaces: [x]}]", "exactly"),
        ("tenants: [{name: a, sha256: abc, namespaces: [x]}]", "sha256"),
        ("tenants: [{name: a, token: '', namespaces: [x]}]", "empty"),
        ("tenants: [{name: a, token: t, namespaces: []}]", "namespaces"),
        ("tenants: [{name: a, token: t, namespaces: ['*', x]}]", "stands alone"),
        ("tenants: [{name: a, token: t, namespaces: [Not_A_Namespace]}]", "DNS-1123"),
        ("tenants: [{name: a, token: t, namespaces: [x], role: admin}]", "role"),
        (
            "tenants: [{name: a, token: t, namespaces: [x]}, {name: a, token: u, namespaces: [y]}]",
            "names must be unique",
        ),
        (
            "tenants: [{name: a, token: t, namespaces: [x]}, {name: b, token: t, namespaces: [y]}]",
            "share a token",
        ),
        ("[not, a, mapping]", "tenants"),
        ("tenants: [unclosed", "not YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(document: str, problem: str) -> None:
    with pytest.raises(TenantsFileError, match="tenants file") as raised:
        parse_tenants(document)

    assert problem in str(raised.value)


def test_a_missing_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(TenantsFileError, match="cannot read"):
        TenantRegistry(str(tmp_path / "nowhere.yaml"))


def test_an_edited_file_is_read_again(tenants_file: Path) -> None:
    # Given a registry of the file, and a new tenant written the way the kubelet updates a
    # Secret mount: a new file moved into place
    registry = TenantRegistry(str(tenants_file))
    replacement = tenants_file.with_suffix(".new")
    write_tenants(replacement, [*TENANTS, {"name": "c", "token": "c-token", "namespaces": ["c"]}])
    os.replace(replacement, tenants_file)

    found = registry.find("c-token")

    assert found is not None and found.namespaces == ("c",)


def test_a_removed_tenant_loses_access_on_reload(tenants_file: Path) -> None:
    registry = TenantRegistry(str(tenants_file))
    assert registry.find("team-a-token") is not None

    write_tenants(tenants_file, TENANTS[1:])

    assert registry.find("team-a-token") is None


def test_a_broken_edit_keeps_the_tenants_in_force(
    tenants_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = TenantRegistry(str(tenants_file))

    tenants_file.write_text("tenants: [{name: a")
    with caplog.at_level(logging.ERROR, logger="aidetect.api"):
        found = registry.find("team-a-token")

    assert found is not None
    assert "keeping the 3 tenants loaded before" in caplog.text
