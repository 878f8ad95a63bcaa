"""Criminal cases and the holds that keep their detections past the retention period (policy G.2)."""
