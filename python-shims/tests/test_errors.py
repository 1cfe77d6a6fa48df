"""Error shapes, trap recovery, resource lifetime and thread safety."""

from __future__ import annotations

import gc
import pickle
import threading

import pytest

import mizan_kernel as mk
from mizan_kernel import MizanKernelError
from mizan_kernel._runtime import runtime
from conftest import REPO

SECRET = "test-pin-secret-that-is-32bytes!"
PINNED = "ctx:user:605a1ca5ad5994e9b765c8d1b330474c2a0d51a7b8fbbdc402f992da7ba902f6"
SHOP = (REPO / "tests" / "fixtures" / "ir" / "shop.kdl").read_text(encoding="utf-8")


def raises(code: str, fn, *args, **kwargs) -> MizanKernelError:  # type: ignore[no-untyped-def]
    with pytest.raises(MizanKernelError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value


# --- error shapes ------------------------------------------------------------------------------


def test_error_shape() -> None:
    e = raises("invalid-header", mk.parse_invalidate_header, "a;k=%zz")
    assert e.details == {"position": 4}
    assert isinstance(e.message, str) and e.message
    assert str(e) == f"invalid-header: {e.message}"
    again = pickle.loads(pickle.dumps(e))
    assert (again.code, again.message, again.details) == (e.code, e.message, e.details)


def test_kernel_error_codes() -> None:
    raises("invalid-argument", mk.check_secret, "")
    raises("invalid-argument", mk.Keyer, "")
    raises("invalid-argument", mk.derive_cache_key, "", "c", {})
    raises("invalid-json", mk.derive_cache_key, SECRET, "c", [1])
    raises("invalid-argument", mk.derive_cache_key, SECRET, "c", {}, {"id": 1})
    raises("invalid-json", mk.Keyer(SECRET).derive_batch, [{"params": {}}])
    raises("invalid-argument", mk.derive_cache_key_rotation, [], "c", {})
    raises("invalid-json", mk.format_invalidate_header, {"context": "x"})
    raises("invalid-argument", mk.apply_merge, {"l": [{"id": 1}]}, {"context": "c", "slot": "l", "value": {"n": 1}})
    e = raises("invalid-ir", mk.Registry.from_kdl, "mizan-ir version=1\nfunction f output=\"list<\"\n")
    assert e.details is not None
    raises("invalid-registry", mk.Registry.from_json, {"functions": {"m": {"affects": ["ghost"]}}})
    reg = mk.Registry.from_kdl(SHOP)
    raises("not-found", reg.resolve_invalidation, "ghost", {})
    raises("not-found", reg.context_policy, "ghost")
    raises("invalid-json", reg.resolve_invalidation, "update_profile", [1])
    raises("invalid-json", reg.manifest, "/api", {"user": "not-a-list"})


def test_host_side_errors() -> None:
    # Values that JSON cannot carry never reach the kernel.
    raises("invalid-json", mk.stringify, float("nan"))
    raises("invalid-json", mk.stringify, float("inf"))
    raises("invalid-json", mk.derive_cache_key, SECRET, "c", {"x": object()})
    raises("invalid-json", mk.canonical_json, {1j: 2})
    raises("invalid-argument", mk.derive_cache_key, SECRET, "c", {}, None, -1)
    raises("invalid-argument", mk.derive_cache_key, SECRET, "c", {}, None, 2**32)
    raises("invalid-argument", mk.derive_cache_key, SECRET, "bad\ud800", {})
    with pytest.raises(TypeError):
        mk.derive_cache_key(SECRET, "c", {}, None, "1")
    with pytest.raises(TypeError):
        mk.derive_cache_key(SECRET, 5, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mk.derive_cache_key_rotation(SECRET, "c", {})  # a str is not a list of secrets
    with pytest.raises(TypeError):
        mk.Keyer(b"secret")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mk.Registry()


def test_kernel_still_fine_after_errors() -> None:
    generation = runtime().generation
    for _ in range(50):
        with pytest.raises(MizanKernelError):
            mk.parse_invalidate_header("*")
    assert mk.derive_cache_key(SECRET, "user", {"user_id": "5"}) == PINNED
    assert runtime().generation == generation  # errors are values, not traps


# --- traps -------------------------------------------------------------------------------------


def trap() -> MizanKernelError:
    """Make the kernel really trap: cap linear memory, then send more text than fits. The
    guest's allocator fails and the Rust runtime aborts (`unreachable`)."""
    mk.set_memory_limit(4 << 20)
    try:
        return raises("trap", mk.stringify, "x" * (8 << 20))
    finally:
        mk.set_memory_limit(None)


def test_trap_recovery() -> None:
    keyer = mk.Keyer(SECRET)
    reg = mk.Registry.from_kdl(SHOP)
    before = (
        keyer.derive("user", {"user_id": 5}),
        reg.resolve_invalidation("update_profile", {"user_id": 5, "name": "n"}),
        reg.to_kdl(),
    )
    generation = runtime().generation
    e = trap()
    assert "unreachable" in e.details["wasmtime"]
    assert "re-created" in e.message
    assert runtime().generation == generation + 1
    # Objects created before the trap keep working: their resources are re-created lazily.
    after = (
        keyer.derive("user", {"user_id": 5}),
        reg.resolve_invalidation("update_profile", {"user_id": 5, "name": "n"}),
        reg.to_kdl(),
    )
    assert after == before
    assert mk.derive_cache_key(SECRET, "user", {"user_id": "5"}) == PINNED


def test_trap_inside_a_method() -> None:
    reg = mk.Registry.from_kdl(SHOP)
    mk.set_memory_limit(4 << 20)
    try:
        raises("trap", reg.resolve_invalidation, "update_profile", {"user_id": 5, "name": "x" * (8 << 20)})
    finally:
        mk.set_memory_limit(None)
    assert reg.context_policy("items").ttl_seconds == 60


def test_repeated_traps() -> None:
    keyer = mk.Keyer(SECRET)
    for _ in range(3):
        trap()
        assert keyer.derive("user", {"user_id": "5"}) == PINNED


# --- resource lifetime -------------------------------------------------------------------------


def test_dropped_resources_are_released() -> None:
    for _ in range(200):
        k = mk.Keyer(f"secret-{_}-that-is-long-enough-32b")
        k.derive("c", {})
        del k
    gc.collect()
    assert runtime().pending_drops  # queued by finalizers, released under the lock
    assert mk.stringify("x") == "x"
    assert not runtime().pending_drops


def test_keyer_cache_is_bounded() -> None:
    for i in range(100):
        mk.derive_cache_key(f"rotating-secret-{i:03d}-long-enough-32b", "c", {})
    assert len(mk._KEYERS) <= mk._KEYERS_MAX


# --- threads -----------------------------------------------------------------------------------


def _work(n: int, offset: int) -> list:
    keyer = mk.Keyer(SECRET)
    out = []
    for i in range(n):
        params = {"user_id": (i + offset) % 97, "page": i % 7}
        out.append(
            (
                mk.derive_cache_key(SECRET, "user", params, user=i % 5, rev=i % 3),
                keyer.derive("user", params, user=i % 5, rev=i % 3),
                mk.stringify({"i": i + offset}),
            )
        )
    return out


def test_threads_agree_with_one_thread() -> None:
    n, threads = 300, 8
    expected = {t: _work(n, t * 11) for t in range(threads)}
    got: dict = {}
    errors: list = []

    def run(t: int) -> None:
        try:
            got[t] = _work(n, t * 11)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    assert got == expected


def test_threads_survive_a_trap_elsewhere() -> None:
    """Threads keep deriving while another thread makes the kernel trap; a call that lands on
    the trap may fail with code "trap" (retryable), every returned key is right."""
    expected = _work(100, 0)
    stop = threading.Event()
    got: list = []
    unexpected: list = []

    def derive() -> None:
        try:
            while not stop.is_set():
                while True:
                    try:
                        got.append(_work(100, 0) == expected)
                        break
                    except MizanKernelError as e:
                        if e.code != "trap":
                            raise
        except BaseException as e:  # pragma: no cover - reported below
            unexpected.append(e)

    workers = [threading.Thread(target=derive) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        for _ in range(3):
            trap()
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert not unexpected
    assert got and all(got)


# --- the client store --------------------------------------------------------------------------

needs_store = pytest.mark.skipif(not mk.has_store(), reason="the component predates the store interface")


@needs_store
def test_store_arguments() -> None:
    store = mk.Store({"stale_time_ms": 1000})
    raises("invalid-argument", store.tick, -1)
    raises("invalid-argument", store.tick, 2**64)
    with pytest.raises(TypeError):
        store.tick("1")  # type: ignore[arg-type]
    raises("invalid-json", store.subscribe, "user", {"x": float("nan")}, 0)
    store.tick(2**64 - 1)
    assert store.instance_count() == 0


@needs_store
def test_store_is_not_rebuilt_after_a_trap() -> None:
    """A store holds state: after a trap it raises instead of silently starting empty."""
    store = mk.Store()
    key = store.subscribe("user", {"user_id": 5}, 1000)
    assert store.instance_count() == 1
    trap()
    e = raises("trap", store.snapshot, key, 1000)
    assert "create a new one" in e.message
    fresh = mk.Store()
    assert fresh.subscribe("user", {"user_id": 5}, 1000) == key
    assert fresh.instance_count() == 1


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_fork_child_can_use_the_kernel() -> None:
    import os

    keyer = mk.Keyer(SECRET)
    assert keyer.derive("user", {"user_id": "5"}) == PINNED
    pid = os.fork()
    if pid == 0:  # the child: same instance, fresh lock
        ok = keyer.derive("user", {"user_id": "5"}) == PINNED and mk.stringify(1.5) == "1.5"
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
