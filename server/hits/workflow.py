"""The verification state machine of policy C.1–C.4 as pure functions: which step may follow which.

A hit moves pending → (APSIN confirmed, visually confirmed, in either order) → verified → action taken →
closed. A failed confirmation closes it with its reason. An enforcement action before both confirmations
(and, for an entry tied to a person, the driver step) is refused unless exigent circumstances are declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

ACTIONS = ("stop", "arrest", "vehicle_recovered", "person_located", "none")
OUTCOMES = ("misread", "state_mismatch", "vehicle_mismatch", "no_longer_wanted", "entry_expired",
            "action_completed")
DRIVER_RESULTS = ("matched", "other_legal_basis", "not_matched")
MIN_WRITTEN_REASON = 15  # a legal basis or exigent justification is a sentence, not "ok"


class StepRefused(Exception):
    """A step the hit's state does not allow: HTTP 409 with a machine code and what is missing."""

    def __init__(self, error: str, detail: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.error, self.detail, self.missing = error, detail, missing


@dataclass(frozen=True, slots=True)
class HitState:
    """What the state machine needs to know about a hit."""

    person_linked: bool
    apsin_confirmed: bool = False
    visual_confirmed: bool = False
    driver_result: str | None = None
    action: str | None = None
    exigent: bool = False
    outcome: str | None = None

    @property
    def status(self) -> str:
        if self.outcome is not None:
            return "closed"
        if self.action is not None:
            return "action_taken"
        if self.apsin_confirmed and self.visual_confirmed:
            return "verified"
        if self.apsin_confirmed:
            return "apsin_confirmed"
        if self.visual_confirmed:
            return "visually_confirmed"
        return "pending"

    def missing_for_action(self) -> tuple[str, ...]:
        """The steps an enforcement action still needs, in the order an officer works through them."""
        missing = []
        if not self.apsin_confirmed:
            missing.append("apsin")
        if not self.visual_confirmed:
            missing.append("visual")
        if self.person_linked and self.driver_result in (None, "not_matched"):
            missing.append("driver")
        return tuple(missing)

    def awaiting(self) -> tuple[str, ...]:
        """The next steps someone can take, for the MDT and dispatch's queue."""
        if self.outcome is not None:
            return ()
        if self.action is not None:
            return ("close",)
        return self.missing_for_action() or ("action",)


@dataclass(frozen=True, slots=True)
class Transition:
    """A step's effect: the new state, the event recorded for it, and whether it closed the hit."""

    state: HitState
    event: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.state.outcome is not None


_DESCRIBE = {"apsin": "APSIN/NCIC status confirmation (C.1, C.4)", "visual": "the officer's visual match of "
             "plate, state and vehicle against the captured image (C.2)", "driver": "the driver matched to the "
             "subject, or another legal basis for the stop (C.3)"}


def _open(state: HitState) -> None:
    if state.outcome is not None:
        raise StepRefused("hit_closed", f"this hit is closed ({state.outcome}); no further step is possible")


def _missing(missing: tuple[str, ...]) -> str:
    return "; ".join(_DESCRIBE[m] for m in missing)


def apsin(state: HitState, confirmed: bool) -> Transition:
    """Dispatch, RTCC or the officer's terminal confirmed (or did not) that the plate is still of interest."""
    _open(state)
    if state.apsin_confirmed:
        raise StepRefused("already_done", "APSIN/NCIC status was confirmed already")
    if not confirmed:
        return Transition(replace(state, outcome="no_longer_wanted"), "apsin_not_confirmed")
    return Transition(replace(state, apsin_confirmed=True), "apsin_confirmed")


def visual(state: HitState, plate_matches: bool, state_matches: bool, vehicle_matches: bool) -> Transition:
    """The officer compared the read with the entry; any difference closes the hit with that reason."""
    _open(state)
    if state.visual_confirmed:
        raise StepRefused("already_done", "the visual match was recorded already")
    failed = ("misread" if not plate_matches else "state_mismatch" if not state_matches
              else "vehicle_mismatch" if not vehicle_matches else None)
    if failed:
        return Transition(replace(state, outcome=failed), "visual_not_matched", {"outcome": failed})
    return Transition(replace(state, visual_confirmed=True), "visual_confirmed")


def driver(state: HitState, matched: bool, other_legal_basis: str | None) -> Transition:
    """For an entry tied to a person: the driver matched the subject, or the officer states another basis."""
    _open(state)
    if not state.person_linked:
        raise StepRefused("not_applicable", "this entry is not tied to a person; there is no driver step")
    if state.driver_result is not None and state.driver_result != "not_matched":
        raise StepRefused("already_done", "the driver step was recorded already")
    missing = tuple(m for m, done in (("apsin", state.apsin_confirmed), ("visual", state.visual_confirmed))
                    if not done)
    if missing:
        raise StepRefused("verification_required", f"before the driver step: {_missing(missing)}", missing)
    basis = (other_legal_basis or "").strip()
    if matched:
        result = "matched"
    elif len(basis) >= MIN_WRITTEN_REASON:
        result = "other_legal_basis"
    else:
        result = "not_matched"  # recorded: the officer looked and has no basis for a stop
    return Transition(replace(state, driver_result=result), f"driver_{result}")


def action(state: HitState, action: str, exigent_justification: str | None) -> Transition:
    """An enforcement action: only after every confirmation, unless exigent circumstances are written down."""
    _open(state)
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if state.action is not None:
        raise StepRefused("already_done", f"an action was recorded already ({state.action}); close the hit")
    if action == "none":  # deciding to do nothing needs no confirmation
        return Transition(replace(state, action=action), "action")
    missing = state.missing_for_action()
    if not missing:
        return Transition(replace(state, action=action), "action")
    justification = (exigent_justification or "").strip()
    if exigent_justification is not None and len(justification) >= MIN_WRITTEN_REASON:
        return Transition(replace(state, action=action, exigent=True), "exigent_override", {"skipped": list(missing)})
    if exigent_justification is not None:
        raise StepRefused("verification_required", f"an exigent override needs a written justification of at "
                          f"least {MIN_WRITTEN_REASON} characters; still missing: {_missing(missing)}", missing)
    if "driver" in missing and state.driver_result == "not_matched":
        raise StepRefused("verification_required", "the driver did not match the subject and no other legal basis "
                          "was stated; no stop on this hit", missing)
    raise StepRefused("verification_required", f"before an enforcement action: {_missing(missing)}", missing)


def close(state: HitState, outcome: str) -> Transition:
    """Close with an outcome; "action_completed" only after an action was recorded."""
    _open(state)
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if outcome == "action_completed" and state.action is None:
        raise StepRefused("verification_required", "no enforcement action was recorded; record the action "
                          "(or close with the reason the hit ended)", ("action",))
    return Transition(replace(state, outcome=outcome), "closed", {"outcome": outcome})


def withdraw(state: HitState, outcome: str) -> Transition | None:
    """The entry was removed or expired: close an open hit, or flag one already acted on; None if closed."""
    if outcome not in ("no_longer_wanted", "entry_expired"):
        raise ValueError(f"an entry is withdrawn as no_longer_wanted or entry_expired, not {outcome!r}")
    if state.outcome is not None:
        return None
    if state.action is not None:  # the stop happened: the officer must still hear, but the record stays open
        return Transition(state, "no_longer_of_interest", {"reason": outcome})
    return Transition(replace(state, outcome=outcome), "no_longer_of_interest", {"reason": outcome})
