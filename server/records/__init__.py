"""Evidence exports (policy F.4): requested with case and purpose, approved by the Chief, produced once."""
