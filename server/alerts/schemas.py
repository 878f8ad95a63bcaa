"""Websocket messages of /ws/alerts, both directions (api-v1.md "Live alerts")."""

from __future__ import annotations

import msgspec
from msgspec import Struct


class AuthMessage(Struct, tag="auth", tag_field="type"):
    token: str


class AckMessage(Struct, tag="ack", tag_field="type"):
    event_id: str


class ResumeMessage(Struct, tag="resume", tag_field="type"):
    after: str


class PongMessage(Struct, tag="pong", tag_field="type"):
    pass


ClientMessage = AuthMessage | AckMessage | ResumeMessage | PongMessage
client_decoder = msgspec.json.Decoder(ClientMessage)


class HelloUser(Struct):
    id: int
    username: str
    display_name: str
    roles: list[str]
    unit_id: int | None


class Hello(Struct, tag="hello", tag_field="type"):
    user: HelloUser
    resume_from: str


class ErrorMessage(Struct, tag="error", tag_field="type"):
    error: str
    detail: str


class Ping(Struct, tag="ping", tag_field="type"):
    pass


class ReplayDone(Struct, tag="replay_done", tag_field="type"):
    """After a replay: how many missed events were sent, and whether the log held more than one replay sends."""

    count: int
    truncated: bool


# Close codes a client can act on (4000-4999 are the application's).
CLOSE_UNAUTHORIZED = 4401  # no, bad or expired token (also when it expires while connected): sign in again
CLOSE_FORBIDDEN = 4403     # no training or grant, or a camera token: do not retry
CLOSE_TOO_SLOW = 4408      # the client did not keep up and was dropped: reconnect
encode = msgspec.json.Encoder().encode
