"""The append-only, hash-chained audit trail of every access to ALPR data, and the flags raised from it."""
