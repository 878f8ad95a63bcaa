"""Live alerts: fan-out of hit events through Redis to every process's websockets."""
