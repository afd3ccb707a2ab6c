"""The CRD file itself: the shape the design promises, checked without a cluster."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from aidetect.core import crd
from tests.utils.services import REPO_ROOT

CRD_FILE = REPO_ROOT / "crds" / f"{crd.CRD_NAME}.yaml"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def version(manifest: dict[str, Any]) -> dict[str, Any]:
    (only,) = manifest["spec"]["versions"]
    v: dict[str, Any] = only
    return v


def test_names_match_the_core_constants(manifest: dict[str, Any]) -> None:
    assert manifest["metadata"]["name"] == crd.CRD_NAME
    names = manifest["spec"]["names"]
    assert (manifest["spec"]["group"], names["kind"], names["plural"]) == (
        crd.GROUP,
        crd.KIND,
        crd.PLURAL,
    )
    assert names["shortNames"] == [crd.SHORT_NAME]
    assert manifest["spec"]["scope"] == "Namespaced"


def test_served_version_has_status_subresource(version: dict[str, Any]) -> None:
    assert version["name"] == crd.VERSION
    assert version["subresources"] == {"status": {}}


def test_default_printer_columns_are_the_designed_ones(version: dict[str, Any]) -> None:
    shown = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert shown == ["Phase", "Detector", "Score", "Label", "Progress", "Age"]


def test_spec_is_immutable_and_takes_exactly_one_input(version: dict[str, Any]) -> None:
    rules = [
        r["rule"]
        for r in version["schema"]["openAPIV3Schema"]["properties"]["spec"][
            "x-kubernetes-validations"
        ]
    ]
    assert "self == oldSelf" in rules
    assert any("has(self.text)" in r and "has(self.textFrom)" in r for r in rules)


def test_conditions_have_the_standard_shape(version: dict[str, Any]) -> None:
    cond = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"]
    assert cond["x-kubernetes-list-type"] == "map"
    assert cond["x-kubernetes-list-map-keys"] == ["type"]
    assert set(cond["items"]["required"]) == {
        "type",
        "status",
        "lastTransitionTime",
        "reason",
        "message",
    }
    assert "observedGeneration" in cond["items"]["properties"]


def test_phases_are_the_designed_ones(version: dict[str, Any]) -> None:
    phase = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["phase"]
    assert phase["enum"] == ["Pending", "Queued", "Running", "Succeeded", "Failed", "Cancelled"]


def test_every_example_parses_with_one_input() -> None:
    for path in sorted((REPO_ROOT / "examples").glob("*.yaml")):
        tasks = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == crd.KIND]
        assert tasks, path.name
        for task in tasks:
            inputs = {"text", "texts", "textFrom", "source"} & set(task["spec"])
            assert len(inputs) == 1, f"{path.name}: {inputs}"
