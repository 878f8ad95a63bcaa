"""The verification state machine of policy C.1–C.4: which step may follow which, and what a refusal says."""

from __future__ import annotations

import pytest

from server.hits import workflow
from server.hits.workflow import MIN_WRITTEN_REASON, OUTCOMES, HitState, StepRefused, Transition

REASON = "Driver fired at officers and fled; immediate danger to the public."
SHORT = "x" * (MIN_WRITTEN_REASON - 1)
JUST_ENOUGH = "y" * MIN_WRITTEN_REASON

PENDING = HitState(person_linked=False)
PENDING_PERSON = HitState(person_linked=True)
VERIFIED = HitState(person_linked=False, apsin_confirmed=True, visual_confirmed=True)
VERIFIED_PERSON = HitState(person_linked=True, apsin_confirmed=True, visual_confirmed=True)
ACTED = HitState(person_linked=False, apsin_confirmed=True, visual_confirmed=True, action="stop")
CLOSED = HitState(person_linked=False, outcome="misread")


def refused(call, *args) -> StepRefused:
    """Run a step that must be refused and return the refusal."""
    with pytest.raises(StepRefused) as exc:
        call(*args)
    return exc.value


# --- status and awaiting -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "expected"), [
    pytest.param(PENDING, "pending", id="nothing-done"),
    pytest.param(HitState(False, apsin_confirmed=True), "apsin_confirmed", id="apsin-only"),
    pytest.param(HitState(False, visual_confirmed=True), "visually_confirmed", id="visual-only"),
    pytest.param(VERIFIED, "verified", id="both-confirmations"),
    pytest.param(HitState(True, True, True, driver_result="not_matched"), "verified", id="driver-does-not-change-it"),
    pytest.param(ACTED, "action_taken", id="action-after-verification"),
    pytest.param(HitState(False, action="none"), "action_taken", id="action-from-pending"),
    pytest.param(CLOSED, "closed", id="closed-unconfirmed"),
    pytest.param(HitState(False, True, True, action="stop", outcome="action_completed"), "closed",
                 id="outcome-beats-action"),
])
def test_status(state: HitState, expected: str) -> None:
    """Status follows the furthest point reached; an outcome always means closed."""
    assert state.status == expected


@pytest.mark.parametrize(("state", "expected"), [
    pytest.param(PENDING, ("apsin", "visual"), id="pending-vehicle"),
    pytest.param(PENDING_PERSON, ("apsin", "visual", "driver"), id="pending-person"),
    pytest.param(HitState(True, visual_confirmed=True), ("apsin", "driver"), id="person-visual-only"),
    pytest.param(VERIFIED, ("action",), id="verified-vehicle"),
    pytest.param(VERIFIED_PERSON, ("driver",), id="verified-person-needs-driver"),
    pytest.param(HitState(True, True, True, driver_result="not_matched"), ("driver",), id="driver-not-matched"),
    pytest.param(HitState(True, True, True, driver_result="other_legal_basis"), ("action",), id="other-basis"),
    pytest.param(ACTED, ("close",), id="acted"),
    pytest.param(CLOSED, (), id="closed"),
])
def test_awaiting(state: HitState, expected: tuple[str, ...]) -> None:
    """The queue shows the missing steps in working order, then action, then close, then nothing."""
    assert state.awaiting() == expected


# --- apsin ---------------------------------------------------------------------------------------------------

def test_apsin_confirmed() -> None:
    """A confirmation marks APSIN done and leaves the hit open."""
    t = workflow.apsin(PENDING, True)
    assert (t.state.apsin_confirmed, t.state.status, t.event, t.closed) == (True, "apsin_confirmed",
                                                                              "apsin_confirmed", False)


def test_apsin_not_confirmed_closes() -> None:
    """A plate no longer of interest closes the hit as no_longer_wanted."""
    t = workflow.apsin(HitState(False, visual_confirmed=True), False)
    assert (t.state.outcome, t.event, t.closed) == ("no_longer_wanted", "apsin_not_confirmed", True)


@pytest.mark.parametrize(("state", "error"), [
    pytest.param(HitState(False, apsin_confirmed=True), "already_done", id="twice"),
    pytest.param(CLOSED, "hit_closed", id="closed"),
])
def test_apsin_refused(state: HitState, error: str) -> None:
    """APSIN cannot be confirmed twice nor on a closed hit."""
    assert refused(workflow.apsin, state, True).error == error


# --- visual --------------------------------------------------------------------------------------------------

def test_visual_all_match() -> None:
    """Plate, state and vehicle matching confirms the visual step."""
    t = workflow.visual(PENDING, True, True, True)
    assert (t.state.visual_confirmed, t.event, t.closed) == (True, "visual_confirmed", False)


@pytest.mark.parametrize(("plate", "state_", "vehicle", "outcome"), [
    pytest.param(False, True, True, "misread", id="plate"),
    pytest.param(False, False, False, "misread", id="plate-beats-all"),
    pytest.param(False, False, True, "misread", id="plate-beats-state"),
    pytest.param(True, False, True, "state_mismatch", id="state"),
    pytest.param(True, False, False, "state_mismatch", id="state-beats-vehicle"),
    pytest.param(True, True, False, "vehicle_mismatch", id="vehicle"),
])
def test_visual_mismatch_closes(plate: bool, state_: bool, vehicle: bool, outcome: str) -> None:
    """Any difference closes the hit with the first failed check as its reason."""
    t = workflow.visual(PENDING, plate, state_, vehicle)
    assert (t.state.outcome, t.event, t.data, t.state.visual_confirmed) == (
        outcome, "visual_not_matched", {"outcome": outcome}, False)


@pytest.mark.parametrize(("state", "error"), [
    pytest.param(HitState(False, visual_confirmed=True), "already_done", id="twice"),
    pytest.param(CLOSED, "hit_closed", id="closed"),
])
def test_visual_refused(state: HitState, error: str) -> None:
    """The visual match cannot be recorded twice nor on a closed hit."""
    assert refused(workflow.visual, state, True, True, True).error == error


# --- driver --------------------------------------------------------------------------------------------------

def test_driver_not_applicable() -> None:
    """An entry not tied to a person has no driver step."""
    assert refused(workflow.driver, VERIFIED, True, None).error == "not_applicable"


@pytest.mark.parametrize(("state", "missing"), [
    pytest.param(PENDING_PERSON, ("apsin", "visual"), id="nothing-done"),
    pytest.param(HitState(True, visual_confirmed=True), ("apsin",), id="apsin-missing"),
    pytest.param(HitState(True, apsin_confirmed=True), ("visual",), id="visual-missing"),
])
def test_driver_before_confirmations(state: HitState, missing: tuple[str, ...]) -> None:
    """The driver step waits for both confirmations and names the ones missing."""
    err = refused(workflow.driver, state, True, None)
    assert (err.error, err.missing) == ("verification_required", missing)


@pytest.mark.parametrize(("matched", "basis", "result"), [
    pytest.param(True, None, "matched", id="matched"),
    pytest.param(True, "", "matched", id="matched-basis-irrelevant"),
    pytest.param(False, REASON, "other_legal_basis", id="other-basis"),
    pytest.param(False, JUST_ENOUGH, "other_legal_basis", id="basis-at-minimum-length"),
    pytest.param(False, SHORT, "not_matched", id="basis-too-short"),
    pytest.param(False, "   " + SHORT + "   ", "not_matched", id="padding-does-not-count"),
    pytest.param(False, " " * 40, "not_matched", id="blank-basis"),
    pytest.param(False, None, "not_matched", id="no-basis"),
])
def test_driver_result(matched: bool, basis: str | None, result: str) -> None:
    """A match, a written other legal basis, or else a recorded not_matched."""
    t = workflow.driver(VERIFIED_PERSON, matched, basis)
    assert (t.state.driver_result, t.event, t.closed) == (result, f"driver_{result}", False)


def test_driver_again_after_not_matched() -> None:
    """After not_matched the officer may record the driver step again."""
    state = workflow.driver(VERIFIED_PERSON, False, None).state
    assert workflow.driver(state, False, REASON).state.driver_result == "other_legal_basis"


@pytest.mark.parametrize(("state", "error"), [
    pytest.param(HitState(True, True, True, driver_result="matched"), "already_done", id="after-matched"),
    pytest.param(HitState(True, True, True, driver_result="other_legal_basis"), "already_done", id="after-basis"),
    pytest.param(HitState(True, True, True, outcome="misread"), "hit_closed", id="closed"),
])
def test_driver_refused(state: HitState, error: str) -> None:
    """A settled driver step cannot be redone, and a closed hit takes no step."""
    assert refused(workflow.driver, state, True, None).error == error


# --- action --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "missing"), [
    pytest.param(PENDING, ("apsin", "visual"), id="vehicle-pending"),
    pytest.param(HitState(False, visual_confirmed=True), ("apsin",), id="vehicle-apsin-missing"),
    pytest.param(HitState(False, apsin_confirmed=True), ("visual",), id="vehicle-visual-missing"),
    pytest.param(PENDING_PERSON, ("apsin", "visual", "driver"), id="person-pending"),
    pytest.param(VERIFIED_PERSON, ("driver",), id="person-driver-missing"),
])
def test_action_before_verification(state: HitState, missing: tuple[str, ...]) -> None:
    """An enforcement action without every confirmation is refused, naming and describing what is missing."""
    err = refused(workflow.action, state, "stop", None)
    assert (err.error, err.missing) == ("verification_required", missing)
    described = {"apsin": "APSIN/NCIC", "visual": "visual match", "driver": "driver matched"}
    assert all(described[m] in err.detail for m in missing)
    assert all(described[m] not in err.detail for m in described.keys() - set(missing))


@pytest.mark.parametrize(("state", "act"), [
    pytest.param(VERIFIED, "stop", id="vehicle-verified"),
    pytest.param(VERIFIED, "vehicle_recovered", id="vehicle-recovered"),
    pytest.param(HitState(True, True, True, driver_result="matched"), "arrest", id="person-driver-matched"),
    pytest.param(HitState(True, True, True, driver_result="other_legal_basis"), "stop", id="person-other-basis"),
    pytest.param(PENDING, "none", id="none-from-pending"),
    pytest.param(PENDING_PERSON, "none", id="none-from-pending-person"),
])
def test_action_allowed(state: HitState, act: str) -> None:
    """A verified hit, or a decision to do nothing, records the action without an override."""
    t = workflow.action(state, act, None)
    assert (t.state.action, t.state.status, t.state.exigent, t.event, t.closed) == (
        act, "action_taken", False, "action", False)


def test_action_driver_not_matched() -> None:
    """A driver who did not match, with no other basis, means no stop."""
    err = refused(workflow.action, HitState(True, True, True, driver_result="not_matched"), "stop", None)
    assert (err.error, err.missing) == ("verification_required", ("driver",))
    assert "no other legal basis" in err.detail


@pytest.mark.parametrize(("state", "skipped"), [
    pytest.param(PENDING, ["apsin", "visual"], id="vehicle-pending"),
    pytest.param(HitState(False, apsin_confirmed=True), ["visual"], id="vehicle-visual-skipped"),
    pytest.param(PENDING_PERSON, ["apsin", "visual", "driver"], id="person-pending"),
    pytest.param(HitState(True, True, True, driver_result="not_matched"), ["driver"], id="driver-not-matched"),
])
@pytest.mark.parametrize("justification", [REASON, JUST_ENOUGH, f"  {JUST_ENOUGH}  "], ids=["sentence", "minimum",
                                                                                           "padded"])
def test_action_exigent_override(state: HitState, skipped: list[str], justification: str) -> None:
    """A written exigent justification allows the action and records the skipped steps."""
    t = workflow.action(state, "arrest", justification)
    assert (t.state.action, t.state.exigent, t.event, t.data) == ("arrest", True, "exigent_override",
                                                                  {"skipped": skipped})


@pytest.mark.parametrize("justification", [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("urgent", id="one-word"),
    pytest.param(SHORT, id="one-short"),
    pytest.param(f"   {SHORT}   ", id="padding-does-not-count"),
])
def test_action_exigent_too_short(justification: str) -> None:
    """An exigent override without a real sentence is refused and still names what is missing."""
    err = refused(workflow.action, PENDING, "stop", justification)
    assert (err.error, err.missing) == ("verification_required", ("apsin", "visual"))
    assert str(MIN_WRITTEN_REASON) in err.detail


def test_action_exigent_not_needed() -> None:
    """On a verified hit a justification is ignored: no override is recorded."""
    t = workflow.action(VERIFIED, "stop", REASON)
    assert (t.state.exigent, t.event, t.data) == (False, "action", {})


@pytest.mark.parametrize(("state", "act", "error"), [
    pytest.param(ACTED, "arrest", "already_done", id="second-action"),
    pytest.param(HitState(False, action="none"), "none", "already_done", id="second-none"),
    pytest.param(CLOSED, "none", "hit_closed", id="closed"),
])
def test_action_refused(state: HitState, act: str, error: str) -> None:
    """Only one action per hit, and none on a closed hit."""
    assert refused(workflow.action, state, act, REASON).error == error


def test_action_unknown() -> None:
    """An action outside the list is a programming error, not a refusal."""
    with pytest.raises(ValueError, match="unknown action"):
        workflow.action(VERIFIED, "tase", None)


# --- close ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome", [o for o in OUTCOMES if o != "action_completed"])
@pytest.mark.parametrize("state", [PENDING, HitState(False, apsin_confirmed=True), VERIFIED_PERSON, ACTED],
                         ids=["pending", "apsin", "verified", "acted"])
def test_close(state: HitState, outcome: str) -> None:
    """Every reason closes an open hit."""
    t = workflow.close(state, outcome)
    assert (t.state.outcome, t.state.status, t.event, t.data, t.closed) == (
        outcome, "closed", "closed", {"outcome": outcome}, True)


@pytest.mark.parametrize("state", [PENDING, VERIFIED], ids=["pending", "verified"])
def test_close_action_completed_without_action(state: HitState) -> None:
    """Closing as action_completed needs an action on record first."""
    err = refused(workflow.close, state, "action_completed")
    assert (err.error, err.missing) == ("verification_required", ("action",))


def test_close_action_completed() -> None:
    """After an action the hit closes as action_completed."""
    t = workflow.close(ACTED, "action_completed")
    assert (t.state.status, t.state.action, t.closed) == ("closed", "stop", True)


def test_close_closed() -> None:
    """A closed hit cannot be closed again."""
    assert refused(workflow.close, CLOSED, "entry_expired").error == "hit_closed"


def test_close_unknown_outcome() -> None:
    """An outcome outside the list is a programming error."""
    with pytest.raises(ValueError, match="unknown outcome"):
        workflow.close(PENDING, "gave_up")


# --- withdraw ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("outcome", ["no_longer_wanted", "entry_expired"])
@pytest.mark.parametrize("state", [PENDING, VERIFIED_PERSON], ids=["pending", "verified"])
def test_withdraw_open(state: HitState, outcome: str) -> None:
    """A withdrawn entry closes an open hit with the given reason."""
    t = workflow.withdraw(state, outcome)
    assert t is not None
    assert (t.state.outcome, t.event, t.data, t.closed) == (outcome, "no_longer_of_interest",
                                                            {"reason": outcome}, True)


def test_withdraw_after_action() -> None:
    """After an action the record stays open, but the officer is still told."""
    t = workflow.withdraw(ACTED, "entry_expired")
    assert t == Transition(ACTED, "no_longer_of_interest", {"reason": "entry_expired"})
    assert (t.state.status, t.closed) == ("action_taken", False)


def test_withdraw_closed() -> None:
    """A closed hit has nothing to withdraw."""
    assert workflow.withdraw(CLOSED, "entry_expired") is None


# --- a whole walk --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("first", ["apsin", "visual"])
def test_confirmations_in_either_order(first: str) -> None:
    """APSIN and visual may come in either order; a person-linked hit then needs the driver before acting."""
    steps = {"apsin": lambda s: workflow.apsin(s, True), "visual": lambda s: workflow.visual(s, True, True, True)}
    state = steps[first](PENDING_PERSON).state
    state = steps[{"apsin": "visual", "visual": "apsin"}[first]](state).state
    assert (state.status, state.awaiting()) == ("verified", ("driver",))
    state = workflow.driver(state, True, None).state
    state = workflow.action(state, "arrest", None).state
    assert workflow.close(state, "action_completed").state.status == "closed"
