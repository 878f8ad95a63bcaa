"""Investigative search and record views: purpose-bound, audited, within retention (api-v1 "Investigation")."""
