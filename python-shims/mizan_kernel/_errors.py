from __future__ import annotations

import json
from typing import Any


class MizanKernelError(Exception):
    """An error from the kernel, or from running it.

    ``code`` is one of the WIT ``error-code`` names (``invalid-json``, ``invalid-argument``,
    ``invalid-header``, ``invalid-ir``, ``invalid-registry``, ``not-found``) or ``trap`` when the
    WebAssembly instance trapped (it has been re-created; the call can be retried).
    ``details`` is the kernel's structured detail, parsed from JSON (or ``None``).
    """

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.message, self.details))


def kernel_error(rec: Any) -> MizanKernelError:
    """The exception for a WIT ``error`` record (a dict: ``code``, ``message``, ``details``)."""
    details = rec.get("details")
    if details is not None:
        try:
            details = json.loads(details)
        except ValueError:
            pass
    return MizanKernelError(rec["code"], rec["message"], details)
