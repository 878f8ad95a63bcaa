"""Reproducible fine-tuning of EasyOCR's recogniser on plates (rendered, and the training half of the crops)."""
