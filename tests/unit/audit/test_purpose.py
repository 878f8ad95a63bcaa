"""Unit tests for server.audit.purpose: a case number and a real purpose are required; vague ones are refused."""

from __future__ import annotations

import pytest

from server.audit.purpose import purpose_problem

GOOD = "Silver pickup seen leaving the 5th Avenue burglary"


@pytest.mark.parametrize(("case", "purpose", "detail", "field"), [
    ("24-001234", "criminal_investigation", GOOD, None),
    ("APD-2024/77", "stolen_vehicle", "Owner reports the car taken overnight from Muldoon", None),
    ("", "criminal_investigation", GOOD, "case_number"),
    ("x", "criminal_investigation", GOOD, "case_number"),
    ("24 001", "criminal_investigation", GOOD, "case_number"),
    ("24-001", "curiosity", GOOD, "purpose"),
    ("24-001", "criminal_investigation", "investigation", "purpose_detail"),
    ("24-001", "criminal_investigation", "Investigation.", "purpose_detail"),
    ("24-001", "criminal_investigation", "criminal investigation", "purpose_detail"),
    ("24-001", "audit", "just checking", "purpose_detail"),
    ("24-001", "stolen_vehicle", "stolen car", "purpose_detail"),
    ("24-001", "stolen_vehicle", "car car car car car car", "purpose_detail"),
    ("24-001", "stolen_vehicle", "   ", "purpose_detail"),
])
def test_purpose_rules(case: str, purpose: str, detail: str, field: str | None) -> None:
    """Each row: a case number, purpose and detail, and the field refused (None: accepted)."""
    problem = purpose_problem(case, purpose, detail)
    assert (problem.split(":", 1)[0] if problem else None) == field, problem
