"""The detector profiles this installation serves: what a client may put in `detector`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request

from aidetect.api.deps import LazyDbDep, require_tenant
from aidetect.api.routes.tasks import errors
from aidetect.api.routing import GuardedRoute
from aidetect.api.schemas import ProfileList, ProfilePublic
from aidetect.core.errors import DatabaseUnavailable
from aidetect.core.models import WorkerHeartbeat
from aidetect.core.profiles import ProfileSet

logger = logging.getLogger("aidetect.api")
RECENT = timedelta(minutes=5)

router = APIRouter(
    tags=["profiles"],
    route_class=GuardedRoute,
    dependencies=[Depends(require_tenant)],
    responses=errors(401, 503),
)


def loaded_versions(workers: list[WorkerHeartbeat], now: datetime) -> dict[str, set[str]]:
    """Profile -> the model versions that recently seen workers report for it."""
    out: dict[str, set[str]] = {}
    for hb in workers:
        versions = hb.model_version.split(",")
        if now - hb.last_seen > RECENT or len(versions) != len(hb.detectors):
            continue
        for profile, version in zip(hb.detectors, versions, strict=True):
            out.setdefault(profile, set()).add(version)
    return out


def public_profiles(
    profiles: ProfileSet, versions: dict[str, set[str]] | None = None
) -> ProfileList:
    """Every profile with its kind, model(s), threshold and which way its score points."""
    items = []
    for name, profile in sorted(profiles.profiles.items()):
        try:
            threshold = profile.decision_threshold()
        except ValueError:
            continue  # a zero-shot profile without a threshold cannot score; workers refuse it
        items.append(
            ProfilePublic(
                name=name,
                kind=profile.kind,
                model=profile.model,
                reference_model=profile.reference_model,
                metric=profile.metric if profile.kind == "perplexity" else None,
                threshold=threshold,
                higher_is_ai=profile.higher_is_ai,
                default=name == profiles.default,
                model_versions=sorted((versions or {}).get(name, ())),
            )
        )
    return ProfileList(items=items)


@router.get("/profiles", summary="The detector profiles a task may name, the default first")
def list_profiles(request: Request, database: LazyDbDep) -> ProfileList:
    try:
        versions = loaded_versions(database.get().workers(), datetime.now(UTC))
    except DatabaseUnavailable as e:  # the profiles are still worth listing
        logger.warning("profiles without model versions: %s", e)
        versions = {}
    listed = public_profiles(request.app.state.profiles, versions)
    listed.items.sort(key=lambda p: not p.default)
    return listed
