"""The 14-day purge (policy G.1, G.2) and the daily ledger of counts that outlives it (policy L)."""
