"""How a :class:`~mizan_kernel.Client` reaches the server (KERNEL.md §7, "Transports").

A transport performs one request and reports the answer in the shapes the client store takes:
the parsed JSON body on success (``None`` when a 2xx answer has no JSON body), or :class:`TransportError` whose ``error`` is ``{"network":
true, "message"}`` (no response) or ``{"status": N, "body": <parsed JSON or None>}`` (an HTTP
error; the store reads the ``{"error": {code, message, details?}}`` envelope itself). It makes
no decision of its own: retries, de-duplication and invalidation all happen in the kernel store.

The HTTP transports use `httpx <https://www.python-httpx.org/>`_ (``pip install
'mizan-kernel[client]'``), imported only when one is created.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import quote

from ._extras import need
from ._jsonio import _json

JSON = Any

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
    """A request that did not succeed. ``error`` is what the store's ``fetch_err``/``call_err``
    take: ``{"network": True, "message"}``, ``{"status", "body"}`` or a bare
    ``{"code", "message", "status"?}``."""

    def __init__(self, error: Mapping[str, JSON]) -> None:
        self.error: Dict[str, JSON] = dict(error)
        if self.error.get("network"):
            text = f"network error: {self.error.get('message', 'request failed')}"
        else:
            text = f"HTTP {self.error.get('status')}"
        super().__init__(text)


class Transport:
    """The synchronous transport interface a :class:`~mizan_kernel.Client` drives. Methods run on
    the client's I/O worker threads, possibly several at once, so they must be thread-safe."""

    def session(self) -> JSON:
        """``GET {base}/session/``: the session body (``{"csrfToken": …}``)."""
        raise NotImplementedError

    def fetch(self, context: str, params: Mapping[str, JSON], query: str) -> JSON:
        """``GET {base}/ctx/{context}/?{query}``: the context bundle. ``query`` is the kernel's
        canonical query string of ``params`` (a transport without URLs uses ``params``)."""
        raise NotImplementedError

    def call(self, fn: str, args: Mapping[str, JSON], csrf_token: Optional[str]) -> Tuple[JSON, Optional[str]]:
        """``POST {base}/call/``: the response body and its ``X-Mizan-Invalidate`` header."""
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


_NOT_JSON = object()


class _Http:
    """URLs, request bodies and response reading shared by the two HTTP transports."""

    def __init__(self, base_url: str) -> None:
        if not isinstance(base_url, str) or not base_url:
            raise TypeError("base_url must be a non-empty str, e.g. 'http://127.0.0.1:8000/api/mizan'")
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _session_url(self) -> str:
        return f"{self.base_url}/session/"

    def _fetch_url(self, context: str, query: str) -> str:
        url = f"{self.base_url}/ctx/{quote(context, safe='')}/"
        return f"{url}?{query}" if query else url

    def _call_request(self, fn: str, args: Mapping[str, JSON], csrf_token: Optional[str]) -> Tuple[str, bytes, Dict[str, str]]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if csrf_token:
            headers["X-CSRFToken"] = csrf_token
        return f"{self.base_url}/call/", _json({"fn": fn, "args": args}, "call").encode(), headers

    @staticmethod
    def _network(e: BaseException) -> TransportError:
        return TransportError({"network": True, "message": f"{type(e).__name__}: {e}" if str(e) else type(e).__name__})

    @staticmethod
    def _body(response: Any) -> JSON:
        """The JSON body of a 2xx response; raises :class:`TransportError` otherwise."""
        status = response.status_code
        try:
            body = response.json() if response.content else _NOT_JSON
        except ValueError:
            body = _NOT_JSON
        if 200 <= status < 300:
            # A success without JSON is passed on as null: the store rejects a body that is not an
            # object itself (INVALID_RESPONSE), as it does for every other host.
            return None if body is _NOT_JSON else body
        raise TransportError({"status": status, "body": None if body is _NOT_JSON else body})


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

    def _get(self, url: str) -> JSON:
        try:
            response = self.http.get(url, headers={"Accept": "application/json"})
        except self._errors as e:
            raise self._network(e) from None
        return self._body(response)

    def session(self) -> JSON:
        return self._get(self._session_url())

    def fetch(self, context: str, params: Mapping[str, JSON], query: str) -> JSON:
        return self._get(self._fetch_url(context, query))

    def call(self, fn: str, args: Mapping[str, JSON], csrf_token: Optional[str]) -> Tuple[JSON, Optional[str]]:
        url, content, headers = self._call_request(fn, args, csrf_token)
        try:
            response = self.http.post(url, content=content, headers=headers)
        except self._errors as e:
            raise self._network(e) from None
        return self._body(response), response.headers.get(INVALIDATE_HEADER)

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

    async def _get(self, url: str) -> JSON:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
        except self._errors as e:
            raise self._network(e) from None
        return self._body(response)

    async def session(self) -> JSON:
        return await self._get(self._session_url())

    async def fetch(self, context: str, params: Mapping[str, JSON], query: str) -> JSON:
        return await self._get(self._fetch_url(context, query))

    async def call(self, fn: str, args: Mapping[str, JSON], csrf_token: Optional[str]) -> Tuple[JSON, Optional[str]]:
        url, content, headers = self._call_request(fn, args, csrf_token)
        try:
            response = await self.http.post(url, content=content, headers=headers)
        except self._errors as e:
            raise self._network(e) from None
        return self._body(response), response.headers.get(INVALIDATE_HEADER)

    async def aclose(self) -> None:
        if self._owns:
            await self.http.aclose()
