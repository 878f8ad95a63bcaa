"""The OCR worker: dash-camera frames and video to plate reads and detections (needs the [ocr] extra)."""

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
