"""The one state machine."""

from __future__ import annotations

import pytest

from aidetect.core.states import (
    TERMINAL,
    TRANSITIONS,
    InvalidTransition,
    Phase,
    advance,
)


def test_happy_path_is_allowed() -> None:
    phase = Phase.PENDING
    for target in (Phase.QUEUED, Phase.RUNNING, Phase.SUCCEEDED):
        phase = advance(phase, target)
    assert phase == Phase.SUCCEEDED


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("target", list(Phase))
def test_nothing_leaves_a_terminal_phase(terminal: Phase, target: Phase) -> None:
    with pytest.raises(InvalidTransition, match=f"from {terminal} to {target}"):
        advance(terminal, target)


def test_skipping_running_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        advance(Phase.QUEUED, Phase.SUCCEEDED)


def test_every_phase_has_an_entry_and_every_open_phase_can_end() -> None:
    assert set(TRANSITIONS) == set(Phase)
    for phase in set(Phase) - TERMINAL:
        assert TRANSITIONS[phase] & TERMINAL
