"""OCR unit-test fixtures: one recogniser and reader for the whole session (the model loads once)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def reader():  # noqa: ANN201
    """The plate reader on the shared recogniser, loaded from the installed weights."""
    from ocr_worker.reader import PlateReader
    from ocr_worker.recognizer import shared

    return PlateReader(shared())
