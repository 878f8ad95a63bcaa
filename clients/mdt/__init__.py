"""A reference MDT client: `alpr mdt` (terminal UI in `ui`), on a protocol core without UI in `session`."""

from clients.mdt.session import Alert, MdtSession, ResumeCursor, SignInError, StepResult

__all__ = ["Alert", "MdtSession", "ResumeCursor", "SignInError", "StepResult"]
