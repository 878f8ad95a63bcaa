"""Hits: a read that matched a hot-list entry, and its history."""
