"""Hot lists: vehicles of interest, their match index and OCR-aware matching."""
