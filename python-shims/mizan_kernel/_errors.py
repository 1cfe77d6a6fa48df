from __future__ import annotations

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
