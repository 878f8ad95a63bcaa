"""Plates and dash-camera scenes the project renders itself (PIL): for tests and recogniser training."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ocr_worker.syntax import TEMPLATES

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts")
PLATE_FONTS = ("DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf",
               "DejaVuSansCondensed.ttf", "DejaVuSerifCondensed-Bold.ttf")


def font_path(name: str = "DejaVuSansCondensed-Bold.ttf") -> str | None:
    for d in FONT_DIRS:
        for p in Path(d).rglob(name) if Path(d).is_dir() else ():
            return str(p)
    return None


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = font_path(name)
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


# Marks that many states print between the groups of a plate number (Missouri's and Pennsylvania's emblems, New
# York's dash; dots on others): a reader must skip them, and not drop the characters beside them.
SEPARATORS = ("space", "dash", "dot", "emblem")


def render_plate(text: str, top: str | None = None, bottom: str | None = None, *, width: int = 320,
                 height: int = 160, font: str = "DejaVuSansCondensed-Bold.ttf", ink: tuple = (20, 30, 90),
                 paper: tuple = (235, 235, 228), stretch: float = 1.0, separator: str | None = None,
                 split: int | None = None, accent: tuple = (200, 40, 40), stacked: str | None = None) -> np.ndarray:
    """A US-style plate (RGB array): the number large in the middle, optional state name and slogan.

    `separator` (one of SEPARATORS) splits the number after `split` characters (default: half) with a gap, empty
    or holding a dash, a dot or an emblem in the `accent` colour. `stacked`: two small letters one above the other
    left of the number, as New Jersey and Massachusetts print a specialty plate's prefix (not part of the number).
    """
    if separator is not None and separator not in SEPARATORS:
        raise ValueError(f"separator must be one of {', '.join(SEPARATORS)}")
    img = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(img)
    draw.rectangle([2, 2, width - 3, height - 3], outline=ink, width=3)
    # The number: 45% of the plate's height, drawn on its own canvas so it can be squeezed like plate fonts.
    size = int(height * 0.5)
    f = _font(font, size)
    k = len(text) // 2 if split is None else split
    shown = f"{text[:k]}  {text[k:]}" if separator else text
    box = draw.textbbox((0, 0), shown, font=f)
    tw, th = box[2] - box[0], box[3] - box[1]
    layer = Image.new("L", (tw + 4, th + 4), 0)
    ImageDraw.Draw(layer).text((2 - box[0], 2 - box[1]), shown, font=f, fill=255)
    target_w = min(int(width * 0.9), int(tw * stretch))
    layer = layer.resize((max(1, target_w), int(height * 0.45)), Image.BICUBIC)
    at = ((width - layer.width) // 2, int(height * 0.28))
    img.paste(Image.new("RGB", layer.size, ink), at, layer)
    if separator not in (None, "space"):
        # The gap's centre, carried from the unscaled text to the squeezed layer.
        gap_x = 2 - box[0] + draw.textlength(text[:k], font=f) + draw.textlength("  ", font=f) / 2
        cx, cy = at[0] + gap_x * layer.width / (tw + 4), at[1] + layer.height / 2
        r = layer.height * 0.16
        if separator == "dash":
            draw.rectangle([cx - 1.2 * r, cy - 0.3 * r, cx + 1.2 * r, cy + 0.3 * r], fill=ink)
        elif separator == "dot":
            draw.ellipse([cx - 0.5 * r, cy - 0.5 * r, cx + 0.5 * r, cy + 0.5 * r], fill=ink)
        else:
            draw.polygon([(cx, cy - 1.6 * r), (cx + r, cy), (cx, cy + 1.6 * r), (cx - r, cy)], fill=accent)
    if stacked:
        if len(stacked) != 2:
            raise ValueError("stacked takes two letters")
        letter = _font(font, int(layer.height * 0.56))  # capitals about 45% of the number's height
        x = at[0] - int(layer.height * 0.2)
        for ch, y in zip(stacked, (at[1], at[1] + layer.height * 0.55), strict=True):
            b = draw.textbbox((0, 0), ch, font=letter)
            draw.text((x - (b[2] - b[0]) - b[0], y - b[1]), ch, font=letter, fill=ink)
    small = _font("DejaVuSans-Bold.ttf", int(height * 0.13))
    for words, y in ((top, int(height * 0.06)), (bottom, int(height * 0.80))):
        if words:
            b = draw.textbbox((0, 0), words, font=small)
            draw.text(((width - (b[2] - b[0])) // 2, y), words, font=small, fill=ink)
    return np.array(img)


def in_dealer_frame(plate: np.ndarray, band_from: float = 0.70, border: int = 8) -> np.ndarray:
    """A plate (RGB array) in a dark dealer's frame whose lower band covers the number's feet.

    The glyphs then join the frame into one dark blob, as on many California plates seen from a dash camera.
    """
    framed = plate.copy()
    h = framed.shape[0]
    framed[int(band_from * h):, :] = (15, 15, 15)
    framed[:, :border] = framed[:, -border:] = framed[:border, :] = (15, 15, 15)
    return framed


# The layouts syntax knows (ocr_worker.syntax.TEMPLATES) and a few vanity-like ones, each equally often: the
# recogniser should learn every common letter/digit order, not only the most common few.
LAYOUTS = (*TEMPLATES, "LDDDDL", "LLLLLL", "LLLLL", "DDDDD")


def random_plate_text(rng: random.Random) -> str:
    """A plate string in a common US layout (or, sometimes, a vanity one)."""
    letters, digits = "ABCDEFGHJKLMNPRSTUVWXYZ", "0123456789"
    layout = rng.choice(LAYOUTS)
    return "".join(rng.choice(letters if k == "L" else digits) for k in layout)


def scene(plate: np.ndarray, size: tuple[int, int] = (640, 360), at: tuple[int, int] = (260, 260),
          plate_width: int = 90, body: tuple = (150, 20, 25), background: tuple = (120, 125, 120)) -> np.ndarray:
    """A dash-camera frame (BGR): a car's rear (body colour, RGB) with the plate on it, on a plain road."""
    w, h = size
    img = Image.new("RGB", (w, h), background)
    draw = ImageDraw.Draw(img)
    pw = plate_width
    ph = pw // 2
    x, y = at
    # Real proportions: a plate is about a sixth of a car's width; the rear window sits two plate widths up.
    draw.rounded_rectangle([x - int(2.25 * pw), y - int(2.4 * pw), x + int(3.25 * pw), y + int(1.2 * ph)],
                           radius=12, fill=body)
    draw.rectangle([x - int(1.8 * pw), y - int(2.2 * pw), x + int(2.8 * pw), y - int(1.4 * pw)], fill=(40, 45, 55))
    img.paste(Image.fromarray(plate).resize((pw, ph), Image.LANCZOS), (x, y))
    return np.array(img)[:, :, ::-1].copy()


def degrade(frame: np.ndarray, rng: np.random.Generator, blur: float = 1.0, noise: float = 6.0) -> np.ndarray:
    """Motion-ish blur and sensor noise, as a moving dash camera records."""
    img = Image.fromarray(frame[:, :, ::-1]).filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img, dtype=np.float32)[:, :, ::-1] + rng.normal(0, noise, frame.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def passing_car(text: str, n: int = 24, size: tuple[int, int] = (640, 360), seed: int = 0,
                state: str | None = "TEXAS", body: tuple = (30, 60, 150)) -> list[np.ndarray]:
    """Frames of a car driving across the view and closer: the plate moves and grows, with blur and noise."""
    rng = np.random.default_rng(seed)
    plate = render_plate(text, state)
    out = []
    for i in range(n):
        t = i / max(1, n - 1)
        pw = int(80 + 40 * t)
        at = (int(120 + 300 * t), int(230 + 30 * t))
        frame = scene(plate, size=size, at=at, plate_width=pw, body=body)
        out.append(degrade(frame, rng, blur=float(rng.uniform(0.6, 1.4)), noise=float(rng.uniform(3, 8))))
    return out


def write_video(path: str, frames: list[np.ndarray], fps: float = 10.0) -> str:
    """Write BGR frames as an MJPEG .avi (the codec every OpenCV build can write and read back)."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path
