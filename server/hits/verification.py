"""The verification steps of a hit (policy C.1-C.4): who may take each, what is recorded, what is pushed."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.alerts.delivery import AlertEvent
from server.alerts.service import ROLE_RTCC, ROLE_SUPERVISOR
from server.audit.service import Actor
from server.auth.principals import UserPrincipal
from server.db import as_utc, utcnow
from server.errors import ApiError, not_found
from server.hits import workflow
from server.hits.models import Hit, HitEvent, Suppression
from server.hits.schemas import ActionStep, ApsinStep, CloseStep, DriverStep, HitDetail, VisualStep, encode
from server.hits.service import HitService, hit_state, recipients
from server.hits.withdrawal import withdraw_hits
from server.hotlist.models import PERSON_LINKED, HotlistEntry

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)

Step = ApsinStep | VisualStep | DriverStep | ActionStep | CloseStep

# Who may take each step (api-v1 "Hits and verification"); an officer only on their own unit's hits.
STEP_ROLES = {
    ApsinStep: ("officer", "dispatcher", "rtcc"),
    VisualStep: ("officer",),
    DriverStep: ("officer",),
    ActionStep: ("officer",),
    CloseStep: ("officer", "dispatcher", "rtcc", "supervisor"),
}
STEP_NAMES = {ApsinStep: "APSIN/NCIC confirmation", VisualStep: "visual match", DriverStep: "driver step",
              ActionStep: "enforcement action", CloseStep: "closing a hit"}


def acting_role(viewer: UserPrincipal, hit: Hit, step: type) -> str:
    """The role the viewer takes this step in, or 403 saying who may."""
    for role in STEP_ROLES[step]:
        if role in viewer.roles and (role != "officer" or viewer.unit_id == hit.unit_id):
            return role
    who = " or ".join("an officer of the hit's unit" if r == "officer" else r for r in STEP_ROLES[step])
    raise ApiError(403, "forbidden", f"{STEP_NAMES[step]} is for {who}")


def _seen(step: Step, hit: Hit, entry: HotlistEntry, public: Any) -> dict[str, Any]:  # noqa: ANN401
    """What the person had in front of them, recorded with the step (requirements §4: "what they saw")."""
    data = {k: v for k, v in msgspec.structs.asdict(step).items() if v is not None}
    if isinstance(step, ActionStep) and step.exigent is not None:
        data["exigent"] = {"justification": step.exigent.justification.strip()}
    if isinstance(step, VisualStep):
        det = public.detection
        data["shown"] = {
            "read": {"plate": det.plate, "state": det.state, "vehicle": msgspec.to_builtins(det.vehicle),
                     "images": det.images},
            "entry": {"plate": entry.plate, "state": entry.state,
                      "vehicle": msgspec.to_builtins(public.entry.vehicle)},
            "match_kind": hit.match_kind, "state_mismatch": hit.state_mismatch,
            "descriptor_mismatches": msgspec.to_builtins(public.descriptor_mismatches)}
    if isinstance(step, DriverStep):
        data["subject"] = entry.subject
    return data


def _withdrawn(entry: HotlistEntry) -> bool:
    expires = as_utc(entry.expires_at)
    return entry.removed_at is not None or (expires is not None and expires <= utcnow())


def _transition(state: workflow.HitState, step: Step) -> workflow.Transition:
    match step:
        case ApsinStep():
            return workflow.apsin(state, step.confirmed)
        case VisualStep():
            return workflow.visual(state, step.plate_matches, step.state_matches, step.vehicle_matches)
        case DriverStep():
            return workflow.driver(state, step.matched, step.other_legal_basis)
        case ActionStep():
            return workflow.action(state, step.action, step.exigent.justification if step.exigent else None)
        case CloseStep():
            return workflow.close(state, step.outcome)
    raise TypeError(step)


class VerificationService:
    def __init__(self, session: AsyncSession, res: Resources) -> None:
        self.session, self.res = session, res

    async def take(self, viewer: UserPrincipal, hit_id: int, step: Step) -> HitDetail:
        """Record one step, or 409 naming what is missing; push the change to the unit, dispatch and RTCC."""
        hit = await self.session.get(Hit, hit_id)
        if hit is None:
            raise not_found(f"hit {hit_id}")
        role = acting_role(viewer, hit, type(step))
        entry = await self.session.get(HotlistEntry, hit.entry_id)
        if not hit.no_longer_of_interest and _withdrawn(entry) and hit.outcome is None:
            # Removed or expired since the last sweep: the hit ends now, before anyone acts on it.
            await withdraw_hits(self.session, self.res, entry, "no_longer_wanted" if entry.removed_at else
                                "entry_expired")
            hit = await self.session.scalar(select(Hit).where(Hit.id == hit_id)
                                            .execution_options(populate_existing=True))
        state = hit_state(hit, entry.category in PERSON_LINKED)
        try:
            moved = _transition(state, step)
        except workflow.StepRefused as exc:
            raise ApiError(409, exc.error, exc.detail, missing=list(exc.missing), hit_status=state.status) from exc
        hits = HitService(self.session)
        (before,) = await hits.publics([hit])
        now = utcnow()
        new = moved.state
        values = dict(status=new.status, apsin_confirmed=new.apsin_confirmed, visual_confirmed=new.visual_confirmed,
                      driver_result=new.driver_result, action=new.action, exigent=new.exigent, outcome=new.outcome,
                      closed_at=now if moved.closed else None, version=hit.version + 1)
        # Only the version this request read: of two people recording a step at once, one wins, one hears so.
        result = await self.session.execute(update(Hit).where(Hit.id == hit_id, Hit.version == hit.version)
                                            .values(**values).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            await self.session.rollback()
            raise ApiError(409, "changed_meanwhile", "someone recorded a step on this hit at the same moment; "
                           "reload it and try again")
        self.session.add(HitEvent(hit_id=hit_id, kind=moved.event, actor_id=viewer.id, actor_role=role, at=now,
                                  data=_seen(step, hit, entry, before) | moved.data))
        if isinstance(step, CloseStep | VisualStep) and new.outcome == "misread" and role == "officer":
            self._suppress(hit, viewer, now)
        await self.session.commit()
        self.session.expire_all()
        detail = await hits.get_hit(viewer, hit_id)
        await self.res.audit.record(Actor(viewer.id, viewer.username, role), "hit_step", subject=f"hit:{hit_id}",
                                    details={"step": moved.event, "status": new.status, "outcome": new.outcome})
        await self._announce(detail, moved, viewer, step)
        return detail

    def _suppress(self, hit: Hit, officer: UserPrincipal, now: Any) -> None:  # noqa: ANN401
        """An officer's misread: this entry and read plate raise no new hit for the unit this shift."""
        hours = self.res.settings.suppression_hours
        self.session.add(Suppression(unit_id=hit.unit_id, entry_id=hit.entry_id, plate=hit.plate, hit_id=hit.id,
                                     created_by=officer.id, created_at=now, expires_at=now + timedelta(hours=hours)))
        self.session.add(HitEvent(hit_id=hit.id, kind="suppressed", actor_id=officer.id, actor_role="officer", at=now,
                                  data={"entry_id": hit.entry_id, "plate": hit.plate, "hours": hours}))

    async def _announce(self, detail: HitDetail, moved: workflow.Transition, viewer: UserPrincipal,
                        step: Step) -> None:
        hit = detail.hit
        payload = encode(hit)
        events = [AlertEvent("hit_update", recipients(hit.unit_id), payload, priority=hit.priority,
                             extra=f',"step":"{moved.event}"'.encode())]
        if moved.event == "exigent_override":
            assert isinstance(step, ActionStep) and step.exigent is not None
            extra = encode({"reason": "exigent_override", "officer": viewer.username,
                            "justification": step.exigent.justification.strip(),
                            "skipped": moved.data.get("skipped", [])})
            events.append(AlertEvent("supervisor_alert", (ROLE_SUPERVISOR, ROLE_RTCC), payload, priority=1,
                                     extra=b"," + extra[1:-1]))
        try:
            await self.res.delivery.publish(events)
        except RedisError:
            # The step is recorded, and answering an error would make the officer record it again (409):
            # the others see it when they reload the hit, or on the next update.
            log.exception("hit %s: step %s recorded but not pushed (Redis unavailable)", hit.id, moved.event)
