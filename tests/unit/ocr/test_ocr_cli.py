"""`alpr ocr read` as api-v1.md describes it, and the server's independence from the OCR extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
from click.testing import CliRunner

from ocr_worker.synth import passing_car, render_plate, scene, write_video
from server.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_read_json_lines(reader, tmp_path: Path) -> None:
    """--json prints one line per image: image, plates with plate/state/confidence/box, and ms."""
    a, b = tmp_path / "a.jpg", tmp_path / "b.png"
    cv2.imwrite(str(a), scene(render_plate("7KDN481")))
    cv2.imwrite(str(b), scene(render_plate("ABC1234"), at=(100, 250)))
    result = CliRunner().invoke(main, ["ocr", "read", "--json", str(a), str(b)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [line["image"] for line in lines] == [str(a), str(b)]
    for line, plate in zip(lines, ["7KDN481", "ABC1234"], strict=True):
        assert set(line) == {"image", "plates", "ms"}
        assert line["ms"] > 0
        top = line["plates"][0]
        assert {"plate", "state", "confidence", "box"} <= set(top)
        assert top["plate"] == plate
        assert 0 <= top["confidence"] <= 1
        x, y, w, h = top["box"]
        assert x <= (260 if plate == "7KDN481" else 100) + 45 <= x + w  # the box holds the plate's centre


def test_read_video_one_line(reader, tmp_path: Path) -> None:
    """A video file gives one line whose plates are the vehicles that passed."""
    video = write_video(str(tmp_path / "car.avi"), passing_car("4GHJ562", n=16, seed=4))
    result = CliRunner().invoke(main, ["ocr", "read", "--json", video])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output)
    assert [p["plate"] for p in line["plates"]] == ["4GHJ562"]


def test_read_crop_and_text_output(reader, tmp_path: Path) -> None:
    """--crops reads a plate close-up; without --json a person gets one readable line per file."""
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), render_plate("FUW999", "ALASKA")[:, :, ::-1])
    result = CliRunner().invoke(main, ["ocr", "read", "--crops", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{path}: FUW999 (AK)")


def test_unreadable_file_fails(reader, tmp_path: Path) -> None:
    """A file that is not an image is reported and the exit status says so."""
    bad = tmp_path / "x.jpg"
    bad.write_text("not an image")
    result = CliRunner().invoke(main, ["ocr", "read", str(bad)])
    assert result.exit_code == 1
    assert "not an image" in result.output


def test_server_does_not_import_ocr() -> None:
    """Importing the server and its CLI loads neither ocr_worker nor torch, EasyOCR or OpenCV."""
    code = ("import sys, server.cli, server.app; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'ocr_worker', 'torch', 'easyocr', 'cv2'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_missing_extra_says_so(tmp_path: Path) -> None:
    """Without torch, `alpr --help` still works and `alpr ocr read` says to install the [ocr] extra."""
    (tmp_path / "torch.py").write_text("raise ImportError('torch is not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    run = [sys.executable, "-c", "from server.cli import main; main()"]
    helped = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "ocr" in helped.stdout
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    failed = subprocess.run([*run, "ocr", "read", str(image)], env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "[ocr] extra" in failed.stderr
