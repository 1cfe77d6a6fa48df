#!/usr/bin/env python3
"""The wire probe runner: replays tests/wire/probes.json against a running app over HTTP and
prints one line per failing probe, then `N passed, N failed[, N skipped]`. Exit status 1 on any
failure. Standard library only, so it runs against any backend (FastAPI, Django, Axum…).

    python3 tests/wire/run_wire.py http://127.0.0.1:8000
    python3 tests/wire/run_wire.py http://127.0.0.1:8000 --no-cache      # an app without origin cache
    python3 tests/wire/run_wire.py http://127.0.0.1:8000 --only cache/ -v

The probe format and the behaviour an app must have are tests/wire/README.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent

# --- tokens (minted here with hmac so probes.json stays static) -------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(v: Any) -> bytes:
    return json.dumps(v, separators=(",", ":")).encode()


def mint(spec: Dict[str, Any], users: Dict[str, Any], config: Dict[str, Any], now: int) -> str:
    """A token per `spec`: {"kind": "mwt"|"access"|"refresh", "user", "variant"?, "sid"?}."""
    kind = spec["kind"]
    variant = spec.get("variant", "valid")
    if variant == "malformed":
        return "not-a-token"
    user = dict(users[spec["user"]], **spec.get("claims", {}))  # "claims": a privilege the user has not
    secret = config["mwt_secret"] if kind == "mwt" else config["jwt_secret"]
    header: Dict[str, Any] = {"alg": "HS256", "typ": "mwt+jwt" if kind == "mwt" else "JWT"}
    payload: Dict[str, Any] = {"sub": user["id"]}
    if kind != "mwt":
        payload["sid"] = spec.get("sid", "wire-session")
    payload["staff"] = bool(user.get("staff"))
    payload["super"] = bool(user.get("superuser"))
    if kind != "mwt":
        payload["type"] = kind
    iat, exp = now, now + 300
    if variant == "expired":
        iat, exp = now - 1000, now - 600
    payload["iat"] = iat
    if variant != "missing-exp":
        payload["exp"] = exp
    digest = hashlib.sha256
    if variant == "alg-none":
        header["alg"] = "none"
    elif variant == "hs512":
        header["alg"] = "HS512"
        digest = hashlib.sha512
    elif variant == "wrong-secret":
        secret = secret + "-not-the-secret"
    signing = f"{_b64(_json(header))}.{_b64(_json(payload))}"
    sig = "" if variant == "alg-none" else _b64(hmac.new(secret.encode(), signing.encode(), digest).digest())
    if variant == "tampered":  # claims changed after signing: become superuser
        payload["staff"] = payload["super"] = True
        signing = f"{_b64(_json(header))}.{_b64(_json(payload))}"
    return f"{signing}.{sig}"


def stripe_signature(variant: str, body: bytes, secret: str, now: int) -> Optional[str]:
    """A ``Stripe-Signature`` header: ``t=<now>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``;
    variants ``valid``, ``wrong-secret``, ``stale`` (t 10 minutes old), ``tampered`` (signed
    over another body), ``absent`` (no header)."""
    if variant == "absent":
        return None
    t = now - 600 if variant == "stale" else now
    key = secret + "-not-the-secret" if variant == "wrong-secret" else secret
    signed = body + b" " if variant == "tampered" else body
    return f"t={t},v1=" + hmac.new(key.encode(), f"{t}.".encode() + signed, hashlib.sha256).hexdigest()


class _Connection(http.client.HTTPConnection):
    """Sends the request line as latin-1, so a probe's path may carry raw bytes 0x80–0xFF
    (written as \u0080–\u00ff in probes.json): what a non-UTF-8 query looks like on the wire."""

    def _encode_request(self, request: str) -> bytes:  # type: ignore[override]
        return request.encode("latin-1")


# --- matching -----------------------------------------------------------------------------------


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality: key order ignored, arrays ordered, booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def subset(want: Any, got: Any, path: str = "$") -> Optional[str]:
    """None when `got` matches `want`: objects by subset of keys, lists elementwise (same
    length), "$any" matches anything, {"$type": T} a JSON type, everything else exactly."""
    if want == "$any":
        return None
    if isinstance(want, dict) and set(want) == {"$type"}:
        return None if _TYPES[want["$type"]](got) else f"{path}: expected a {want['$type']}, got {got!r}"
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{path}: expected an object, got {got!r}"
        for k, v in want.items():
            if k not in got:
                return f"{path}.{k}: missing"
            problem = subset(v, got[k], f"{path}.{k}")
            if problem:
                return problem
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"{path}: expected a list of {len(want)}, got {got!r}"
        for i, (w, g) in enumerate(zip(want, got)):
            problem = subset(w, g, f"{path}[{i}]")
            if problem:
                return problem
        return None
    return None if json_equal(want, got) else f"{path}: expected {want!r}, got {got!r}"


# --- the runner ---------------------------------------------------------------------------------


class Result:
    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        low = name.lower()
        values = [v for n, v in self.headers if n.lower() == low]
        return ", ".join(values) if values else None


class Runner:
    def __init__(
        self, base_url: str, data: Dict[str, Any], cache: bool = True, csrf: bool = False, verbose: bool = False, timeout: float = 15.0
    ) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "http":
            raise SystemExit("run_wire: only http:// base URLs")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.prefix = u.path.rstrip("/")
        self.data = data
        self.config = data["config"]
        self.users = data["users"]
        self.cache = cache
        self.csrf = csrf
        self.verbose = verbose
        self.timeout = timeout
        rnd = random.Random()
        self.vars = {"run": f"r{rnd.randrange(16**8):08x}", "runint": str(rnd.randrange(1000, 10**9))}

    def subst(self, v: Any) -> Any:
        if isinstance(v, str):
            if v == "${runint}":
                return int(self.vars["runint"])
            for k, val in self.vars.items():
                v = v.replace("${" + k + "}", val)
            return v
        if isinstance(v, list):
            return [self.subst(x) for x in v]
        if isinstance(v, dict):
            return {k: self.subst(x) for k, x in v.items()}
        return v

    def request(self, req: Dict[str, Any]) -> Result:
        req = self.subst(req)
        method = req.get("method", "GET")
        path = self.prefix + req["path"]
        headers: Dict[str, str] = dict(req.get("headers", {}))
        body: Optional[bytes] = None
        if "json" in req:
            body = _json(req["json"])
        elif "raw" in req:
            body = req["raw"].encode()
        elif "raw_hex" in req:
            body = bytes.fromhex(req["raw_hex"])
        if "pad_to" in req:  # fill "${pad}" so the body is exactly pad_to bytes
            template = (body or b"").decode()
            base = len(template.replace("${pad}", "").encode())
            body = template.replace("${pad}", "x" * (req["pad_to"] - base)).encode()
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        if "as" in req:
            headers["X-Wire-User"] = self.users[req["as"]]["id"]
        now = int(time.time())
        lines: List[Tuple[str, str]] = [tuple(h) for h in req.get("header_lines", [])]  # type: ignore[misc]
        if "token" in req:
            token = mint(req["token"], self.users, self.config, now)
            headers["X-Mizan-Token"] = token
            if req.get("token_twice"):  # the same credential header on two lines
                lines.append(("X-Mizan-Token", token))
        if "bearer" in req:
            bearer = "Bearer " + mint(req["bearer"], self.users, self.config, now)
            headers["Authorization"] = bearer
            if req.get("bearer_twice"):
                lines.append(("Authorization", bearer))
        if "stripe_signature" in req:
            sig = stripe_signature(req["stripe_signature"], body or b"", self.config["webhook_secret"], now)
            if sig is not None:
                headers["Stripe-Signature"] = sig
        chunked = bool(req.get("chunked"))
        conn = _Connection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in list(headers.items()) + lines:
                conn.putheader(k, v)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            elif body is not None or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders()
            data = body or b""
            if chunked:  # 4 KiB chunks, then the last (empty) one
                data = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (data[i : i + 4096] for i in range(0, len(data), 4096))) + b"0\r\n\r\n"
            if data:
                try:
                    conn.send(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server answered before reading everything (an oversize body)
            resp = conn.getresponse()
            data = b"" if method == "HEAD" else resp.read()
            return Result(resp.status, resp.getheaders(), data)
        finally:
            conn.close()

    def check(self, step: Dict[str, Any], res: Result, named: Dict[str, Result]) -> List[str]:
        exp = self.subst(step["expect_csrf"] if self.csrf and "expect_csrf" in step else step.get("expect", {}))
        problems: List[str] = []
        method = step["request"].get("method", "GET")
        protocol = step["request"]["path"].startswith(self.config["base_path"])
        if "status" in exp and res.status != exp["status"]:
            problems.append(f"status {res.status}, expected {exp['status']}")
        if protocol:  # every protocol response, whatever its status
            if res.header("Cache-Control") != "no-store":
                problems.append(f"Cache-Control {res.header('Cache-Control')!r}, expected 'no-store'")
            if not (res.header("Content-Type") or "").startswith("application/json"):
                problems.append(f"Content-Type {res.header('Content-Type')!r}, expected application/json")
        text = res.body.decode("utf-8", "replace")
        parsed: Any = None
        if method != "HEAD" and (protocol or "body" in exp or "body_subset" in exp):
            try:
                parsed = json.loads(res.body)
            except ValueError:
                problems.append(f"body is not JSON: {text[:200]!r}")
        if "body_text" in exp and text != exp["body_text"]:
            problems.append(f"body {text[:400]!r}, expected {exp['body_text'][:400]!r}")
        if "body" in exp and not json_equal(parsed, exp["body"]):
            problems.append(f"body {text[:400]}, expected {json.dumps(exp['body'])[:400]}")
        if "body_subset" in exp:
            problem = subset(exp["body_subset"], parsed)
            if problem:
                problems.append(f"body {text[:300]}: {problem}")
        if "body_same_as" in exp:
            other = named.get(exp["body_same_as"])
            if other is None or other.body != res.body:
                problems.append(f"body differs from step {exp['body_same_as']!r}: {text[:200]!r} vs {other.body[:200]!r}" if other else "no such step")
        if "body_differs_from" in exp:
            other = named.get(exp["body_differs_from"])
            if other is not None and other.body == res.body:
                problems.append(f"body is the same as step {exp['body_differs_from']!r}: {text[:200]!r}")
        for name, value in exp.get("headers", {}).items():
            got = res.header(name)
            if got != value:
                problems.append(f"header {name}: {got!r}, expected {value!r}")
        for name in exp.get("headers_present", []):
            if res.header(name) is None:
                problems.append(f"header {name} missing")
        for name in exp.get("headers_absent", []):
            if res.header(name) is not None:
                problems.append(f"header {name} present ({res.header(name)!r}), expected none")
        if "body_keys" in exp and parsed is not None:
            keys = [k for k, _ in json.loads(res.body, object_pairs_hook=lambda pairs: pairs)] if isinstance(parsed, dict) else None
            if keys != exp["body_keys"]:
                problems.append(f"body keys {keys}, expected {exp['body_keys']} (in this order)")
        if "body_length" in exp and len(res.body) != exp["body_length"]:
            problems.append(f"body length {len(res.body)}, expected {exp['body_length']}")
        return problems

    def concurrent(self, group: List[Dict[str, Any]]) -> List[Any]:
        """Send the group's requests at once (each after its ``delay_ms``); the results (or the
        exception) in the group's order."""
        out: List[Any] = [None] * len(group)

        def send(i: int, step: Dict[str, Any]) -> None:
            time.sleep(step.get("delay_ms", 0) / 1000)
            try:
                out[i] = self.request(step["request"])
            except (OSError, http.client.HTTPException) as e:
                out[i] = e

        threads = [threading.Thread(target=send, args=(i, s)) for i, s in enumerate(group)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def run_probe(self, probe: Dict[str, Any]) -> List[str]:
        steps = probe.get("steps") or [{k: probe[k] for k in ("request", "expect", "expect_csrf") if k in probe}]
        named: Dict[str, Result] = {}
        for i, step in enumerate(steps):
            group = step.get("concurrent") or [step]  # "concurrent": requests sent at once
            results = self.concurrent(group) if "concurrent" in step else [None]
            for j, sub in enumerate(group):
                try:
                    res = results[j] if "concurrent" in step else self.request(sub["request"])
                    if isinstance(res, Exception):
                        raise res
                except (OSError, http.client.HTTPException) as e:
                    return [f"step {i + 1}: {type(e).__name__}: {e}"]
                problems = self.check(sub, res, named)
                if "name" in sub:
                    named[sub["name"]] = res
                if problems:
                    r = sub["request"]
                    return [f"step {i + 1} ({r.get('method', 'GET')} {r['path']}): {p}" for p in problems]
        return []

    def run(self, only: Optional[str] = None) -> Tuple[int, int, int]:
        passed = failed = skipped = 0
        for probe in self.data["probes"]:
            if only and only not in probe["id"]:
                continue
            if "cache" in probe.get("requires", []) and not self.cache:
                skipped += 1
                continue
            if "no-cache" in probe.get("requires", []) and self.cache:
                skipped += 1
                continue
            problems = self.run_probe(probe)
            if problems:
                failed += 1
                print(f"FAIL {probe['id']}: " + "\n    ".join(problems))
            else:
                passed += 1
                if self.verbose:
                    print(f"ok   {probe['id']}")
        return passed, failed, skipped


def load(path: Optional[str] = None) -> Dict[str, Any]:
    return json.loads(Path(path or HERE / "probes.json").read_text(encoding="utf-8"))


def run(
    base_url: str, cache: bool = True, csrf: bool = False, only: Optional[str] = None, verbose: bool = False, probes: Optional[str] = None
) -> Tuple[int, int, int]:
    return Runner(base_url, load(probes), cache=cache, csrf=csrf, verbose=verbose).run(only)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Replay tests/wire/probes.json against a running Mizan app.")
    ap.add_argument("base_url", help="the app's origin, e.g. http://127.0.0.1:8000")
    ap.add_argument("--probes", help="another probes file")
    ap.add_argument("--no-cache", action="store_true", help="the app has no origin cache: skip the cache probes")
    ap.add_argument("--csrf", action="store_true", help="the app puts a CSRF token in GET /session/ (Django)")
    ap.add_argument("--only", help="run the probes whose id contains this")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    passed, failed, skipped = run(a.base_url, cache=not a.no_cache, csrf=a.csrf, only=a.only, verbose=a.verbose, probes=a.probes)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
