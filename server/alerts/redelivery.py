"""Re-sending what a unit has not acknowledged, and escalating it to the RTCC and supervisors."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from server.alerts.delivery import AlertEvent
from server.alerts.service import ROLE_RTCC, ROLE_SUPERVISOR

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)


async def resend_due(res: Resources) -> int:
    """Re-send each event whose ack deadline passed (claimed by exactly one server process); the first miss
    also goes to the RTCC and supervisors, who can raise the unit by radio. How many were handled."""
    settings = res.settings
    claimed = await res.delivery.claim_due(settings.ack_max_resends)
    events: list[AlertEvent] = []
    for event_id, recipient, attempt in claimed:
        logged = await res.delivery.logged(recipient, event_id)
        if logged is None:  # trimmed from the log: nothing left to re-send
            continue
        if attempt <= settings.ack_max_resends:
            events.append(AlertEvent(logged.type, (recipient,), logged.payload.encode(), priority=logged.priority,
                                     extra=f'{logged.extra},"resent":{attempt}'.encode(), logged=False,
                                     original_id=event_id))
        if attempt == 1:
            waited = settings.ack_resend_seconds
            log.warning("%s has not acknowledged alert %s after %.0f s: escalating", recipient, event_id, waited)
            extra = (f',"reason":"unacknowledged","recipient":{json.dumps(recipient)},'
                     f'"unacknowledged_event_id":"{event_id}","waited_seconds":{waited:g}')
            events.append(AlertEvent("escalation", (ROLE_RTCC, ROLE_SUPERVISOR), logged.payload.encode(),
                                     priority=logged.priority, extra=extra.encode()))
    await res.delivery.publish(events)
    res.metrics.resends.inc(sum(1 for e in events if e.original_id))
    res.metrics.escalations.inc(sum(1 for e in events if e.type == "escalation"))
    return len(claimed)
