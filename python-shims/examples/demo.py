"""The kernel from Python: `.venv/bin/python python-shims/examples/demo.py`."""

from pathlib import Path

import mizan_kernel as mk

SECRET = "test-pin-secret-that-is-32bytes!"
IR = (Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "ir" / "shop.kdl").read_text()

print("1. cache key of user(user_id=5):", mk.derive_cache_key(SECRET, "user", {"user_id": 5}))
header = mk.format_invalidate_header([{"context": "user", "params": {"user_id": 5}}, "notifications"])
print("2. header:", header, "->", mk.parse_invalidate_header(header))

registry = mk.Registry.from_kdl(IR)
inv = registry.resolve_invalidation("update_profile", {"user_id": 5, "name": "Ryth"})
print("3. update_profile invalidates", inv.invalidate, "| X-Mizan-Invalidate:", inv.header)
policy = registry.context_policy("user")
print("4. effective policy of `user`:", policy)
print("5. manifest contexts:", sorted(registry.manifest("/api/mizan")["contexts"]))
