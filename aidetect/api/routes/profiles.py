"""The detector profiles this installation serves: what a client may put in `detector`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from aidetect.api.deps import require_tenant
from aidetect.api.routes.tasks import errors
from aidetect.api.routing import GuardedRoute
from aidetect.api.schemas import ProfileList, ProfilePublic
from aidetect.core.profiles import ProfileSet

router = APIRouter(
    tags=["profiles"],
    route_class=GuardedRoute,
    dependencies=[Depends(require_tenant)],
    responses=errors(401, 503),
)


def public_profiles(profiles: ProfileSet) -> ProfileList:
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
            )
        )
    return ProfileList(items=items)


@router.get("/profiles", summary="The detector profiles a task may name, the default first")
def list_profiles(request: Request) -> ProfileList:
    listed = public_profiles(request.app.state.profiles)
    listed.items.sort(key=lambda p: not p.default)
    return listed
