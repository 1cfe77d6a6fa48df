"""How a :class:`~mizan_kernel.Client` reaches the server (KERNEL.md §7, "Transports").

A transport performs requests the kernel's client session builds and hands back what came of
them; it decides nothing (what an answer means, retries, the session's CSRF token, invalidation:
all the kernel's). Two kinds:

- an **HTTP transport** has ``request(method, path, headers, body, timeout)`` and returns
  ``(status, body_text, x_mizan_invalidate)``; :class:`HttpTransport` and
  :class:`AsyncHttpTransport` (over `httpx <https://www.python-httpx.org/>`_, ``pip install
  'mizan-kernel[client]'``, imported only when one is created);
- an **operation transport** (no URLs: an in-process call, a queue) has ``fetch``, ``call`` and
  optionally ``session`` returning decoded values.

Either raises :class:`TransportError` when there is no answer.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ._extras import need

JSON = Any
#: ``(status, body text, X-Mizan-Invalidate header)``.
HttpAnswer = Tuple[int, str, Optional[str]]

__all__ = [
    "TransportError",
    "Transport",
    "AsyncTransport",
    "HttpTransport",
    "AsyncHttpTransport",
]

#: The response header that carries a call's invalidations (KERNEL.md §5).
INVALIDATE_HEADER = "X-Mizan-Invalidate"


class TransportError(Exception):
    """A request that got no usable answer. ``error`` is ``{"network": True, "message"}`` (no
    answer at all), or an error payload ``{"code", "message", "details"?, "status"?}``."""

    def __init__(self, error: Mapping[str, JSON]) -> None:
        self.error: Dict[str, JSON] = dict(error)
        if self.error.get("network"):
            text = f"network error: {self.error.get('message', 'request failed')}"
        else:
            text = f"{self.error.get('code', 'error')}: {self.error.get('message', '')}"
        super().__init__(text)


class Transport:
    """The synchronous transport interface a :class:`~mizan_kernel.Client` drives: implement
    ``request`` (HTTP) or ``fetch``/``call``/``session`` (operations). Methods run on the
    client's I/O worker threads, possibly several at once, so they must be thread-safe."""

    def session(self) -> JSON:
        """The session body (``{"csrfToken": …}``)."""
        raise NotImplementedError

    def fetch(self, context: str, params: Mapping[str, JSON], query: str) -> JSON:
        """The context bundle of ``(context, params)``; ``query`` is the kernel's canonical query."""
        raise NotImplementedError

    def call(self, fn: str, args: Mapping[str, JSON], csrf_token: Optional[str]) -> Tuple[JSON, Optional[str]]:
        """The call's response body and its invalidation header, if any."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (called by ``Client.close`` when the client created the transport)."""


class AsyncTransport:
    """The asyncio transport interface an :class:`~mizan_kernel.AsyncClient` drives."""

    async def session(self) -> JSON:
        raise NotImplementedError

    async def fetch(self, context: str, params: Mapping[str, JSON], query: str) -> JSON:
        raise NotImplementedError

    async def call(self, fn: str, args: Mapping[str, JSON], csrf_token: Optional[str]) -> Tuple[JSON, Optional[str]]:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def _httpx() -> Any:
    return need("httpx", "client", "the HTTP transport")


class _Http:
    """The base URL and the request parts shared by the two HTTP transports."""

    def __init__(self, base_url: str) -> None:
        if not isinstance(base_url, str) or not base_url:
            raise TypeError("base_url must be a non-empty str, e.g. 'http://127.0.0.1:8000/api/mizan'")
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _parts(self, path: str, headers: Sequence[Tuple[str, str]], body: Optional[str]) -> Tuple[str, Dict[str, str], Optional[bytes]]:
        h = {"Accept": "application/json"}
        h.update(headers)
        return f"{self.base_url}/{path}", h, None if body is None else body.encode()

    @staticmethod
    def _network(e: BaseException) -> TransportError:
        return TransportError({"network": True, "message": f"{type(e).__name__}: {e}" if str(e) else type(e).__name__})

    @staticmethod
    def _answer(response: Any) -> HttpAnswer:
        return response.status_code, response.text, response.headers.get(INVALIDATE_HEADER)


class HttpTransport(_Http, Transport):
    """The Mizan HTTP protocol over an ``httpx.Client`` (thread-safe; keeps cookies, so a
    Django session and its CSRF cookie work). Pass ``client=`` to bring your own (auth, proxies,
    TLS); it is then yours to close."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout: float = 10.0,
        client: Any = None,
    ) -> None:
        _Http.__init__(self, base_url)
        httpx = _httpx()
        self._errors = httpx.TransportError
        self._owns = client is None
        self.http = client if client is not None else httpx.Client(headers=dict(headers or {}), timeout=timeout)

    def request(self, method: str, path: str, headers: Sequence[Tuple[str, str]], body: Optional[str], timeout: Optional[float]) -> HttpAnswer:
        """One request of the session (``path`` relative to the base URL); ``timeout`` in
        seconds, ``None`` for no limit."""
        url, h, content = self._parts(path, headers, body)
        try:
            return self._answer(self.http.request(method, url, headers=h, content=content, timeout=timeout))
        except self._errors as e:
            raise self._network(e) from None

    def close(self) -> None:
        if self._owns:
            self.http.close()


class AsyncHttpTransport(_Http, AsyncTransport):
    """The Mizan HTTP protocol over an ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout: float = 10.0,
        client: Any = None,
    ) -> None:
        _Http.__init__(self, base_url)
        httpx = _httpx()
        self._errors = httpx.TransportError
        self._owns = client is None
        self.http = client if client is not None else httpx.AsyncClient(headers=dict(headers or {}), timeout=timeout)

    async def request(
        self, method: str, path: str, headers: Sequence[Tuple[str, str]], body: Optional[str], timeout: Optional[float]
    ) -> HttpAnswer:
        url, h, content = self._parts(path, headers, body)
        try:
            return self._answer(await self.http.request(method, url, headers=h, content=content, timeout=timeout))
        except self._errors as e:
            raise self._network(e) from None

    async def aclose(self) -> None:
        if self._owns:
            await self.http.aclose()
