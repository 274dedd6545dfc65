"""Signing: the SDK's published vectors, fast path == SDK path, coincurve in use, no key in output."""

from __future__ import annotations

import itertools
import logging

import pytest
from eth_account import Account
from hyperliquid.utils.signing import action_hash, sign_l1_action
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.venues.hyperliquid.errors import WalletError
from amm500.venues.hyperliquid.signing import (
    NonceCounter,
    OrderSpec,
    Signer,
    batch_modify_action,
    cancel_action,
    cancel_by_cloid_action,
    describe_signer_error,
    ecc_backend_name,
    is_mainnet_url,
    order_action,
    schedule_cancel_action,
)

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
ADDR = "0x14791697260e4c9a71f18484c9f997b308e59325"
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"

# (action, vault, mainnet, r, s, v) from the SDK's tests/signing_test.py (shared/reference/hyperliquid-api.md 4.5)
DUMMY = {"type": "dummy", "num": 100000000000}
V2 = {"a": 1, "b": True, "p": "100", "s": "100", "r": False, "t": {"limit": {"tif": "Gtc"}}}
V2_CLOID = {**V2, "c": "0x00000000000000000000000000000001"}
VECTORS = [
    (DUMMY, None, True, "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
     "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8", 27),
    (DUMMY, None, False, "0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
     "0x17b8b32f086e8cdede991f1e2c529f5dd5297cbe8128500e00cbaf766204a613", 28),
    (DUMMY, VAULT, True, "0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
     "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c", 28),
    (DUMMY, VAULT, False, "0xe281d2fb5c6e25ca01601f878e4d69c965bb598b88fac58e475dd1f5e56c362b",
     "0x7ddad27e9a238d045c035bc606349d075d5c5cd00a6cd1da23ab5c39d4ef0f60", 27),
    ({"type": "order", "orders": [V2], "grouping": "na"}, None, True,
     "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
     "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e", 28),
    ({"type": "order", "orders": [V2_CLOID], "grouping": "na"}, None, False,
     "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
     "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988", 28),
    ({"type": "scheduleCancel"}, None, True, "0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
     "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0", 27),
    ({"type": "scheduleCancel", "time": 123456789}, None, False,
     "0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
     "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678", 27),
]  # fmt: skip


@pytest.mark.parametrize(("action", "vault", "mainnet", "r", "s", "v"), VECTORS)
@pytest.mark.parametrize("fast", [True, False])
def test_sdk_vectors(action: dict, vault: str | None, mainnet: bool, r: str, s: str, v: int, fast: bool) -> None:
    signer = Signer(KEY, is_mainnet=mainnet, vault_address=vault, fast=fast)
    assert signer.fast is fast
    assert signer.sign(action, 0) == {"r": r, "s": s, "v": v}


def test_order_wire_hash_matches_vector() -> None:
    spec = OrderSpec(asset=4, is_buy=True, px=1670.1, sz=0.0147, tif="Ioc")
    action = order_action([spec])
    assert action == {
        "type": "order",
        "orders": [{"a": 4, "b": True, "p": "1670.1", "s": "0.0147", "r": False, "t": {"limit": {"tif": "Ioc"}}}],
        "grouping": "na",
    }
    digest = action_hash(action, None, 1677777606040, None)
    assert digest.hex() == "0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"


order_specs = st.builds(
    OrderSpec,
    asset=st.integers(0, 200),
    is_buy=st.booleans(),
    px=st.integers(1, 200_000).map(float),
    sz=st.integers(1, 10**6).map(lambda n: n / 1e5),
    tif=st.sampled_from(["Alo", "Ioc", "Gtc"]),
    reduce_only=st.booleans(),
    cloid=st.one_of(st.none(), st.integers(1, 2**128 - 1).map(lambda n: f"0x{n:032x}")),
)


@settings(max_examples=40, deadline=None)
@given(
    orders=st.lists(order_specs, min_size=1, max_size=5),
    nonce=st.integers(1, 2**62),
    mainnet=st.booleans(),
    vault=st.sampled_from([None, VAULT]),
    expires=st.one_of(st.none(), st.integers(1, 2**40)),
)
def test_fast_path_equals_sdk(
    orders: list[OrderSpec], nonce: int, mainnet: bool, vault: str | None, expires: int | None
) -> None:
    signer = Signer(KEY, is_mainnet=mainnet, vault_address=vault, expires_after=expires)
    wallet = Account.from_key(KEY)
    for action in (
        order_action(orders),
        batch_modify_action([(i + 1, o) for i, o in enumerate(orders)]),
        cancel_action([(o.asset, i + 1) for i, o in enumerate(orders)]),
        cancel_by_cloid_action([(o.asset, f"0x{i + 1:032x}") for i, o in enumerate(orders)]),
        schedule_cancel_action(nonce + 10_000),
    ):
        assert signer.sign(action, nonce) == sign_l1_action(wallet, action, vault, nonce, expires, mainnet)


def test_envelope_and_nonces() -> None:
    signer = Signer(KEY, is_mainnet=False)
    env = signer.envelope({"type": "scheduleCancel"})
    assert set(env) == {"action", "nonce", "signature", "vaultAddress", "expiresAfter"}
    counter = NonceCounter()
    seen = [counter.next() for _ in range(500)]
    assert all(b > a for a, b in itertools.pairwise(seen))


def test_coincurve_backend_in_use() -> None:
    assert ecc_backend_name() == "CoinCurveECCBackend"


def test_key_never_in_repr_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    signer = Signer(KEY, is_mainnet=False)
    text = repr(signer) + str(signer.envelope({"type": "scheduleCancel"}))
    assert KEY[2:] not in text and ADDR in text
    bad = "0x" + "zz" * 32
    with pytest.raises(WalletError) as exc:
        Signer(bad, is_mainnet=False)
    assert "zz" * 8 not in str(exc.value) and exc.value.__cause__ is None
    assert KEY[2:] not in caplog.text


def test_network_source() -> None:
    assert is_mainnet_url("https://api.hyperliquid.xyz/")
    assert not is_mainnet_url("https://api.hyperliquid-testnet.xyz")
    assert not is_mainnet_url("http://127.0.0.1:3001")


def test_signer_error_names_the_wrong_address() -> None:
    other = "0x" + "ab" * 20
    msg = describe_signer_error(f"User or API Wallet {other} does not exist.", ADDR, None)
    assert msg is not None and other in msg and "signing key or network is wrong" in msg
    master = "0x" + "cd" * 20
    msg = describe_signer_error(f"User or API Wallet {ADDR} does not exist.", ADDR, master)
    assert msg is not None and "not an approved API wallet" in msg and master in msg
    assert describe_signer_error("Insufficient margin to place order.", ADDR, None) is None
    vault = "0x" + "98" * 20
    msg = describe_signer_error(
        f"User or API Wallet {ADDR} is not authorized to act for vault {vault}.", ADDR, None, vault
    )
    assert msg is not None and msg.startswith(f"network.vault_address = {vault}")


@settings(max_examples=60, deadline=None)
@given(spec=order_specs)
def test_memoized_order_wire_equals_the_sdk(spec: OrderSpec) -> None:
    from hyperliquid.utils.signing import order_request_to_order_wire
    from hyperliquid.utils.types import Cloid

    request = {"coin": "", "is_buy": spec.is_buy, "sz": spec.sz, "limit_px": spec.px,
               "order_type": {"limit": {"tif": spec.tif}}, "reduce_only": spec.reduce_only}  # fmt: skip
    if spec.cloid is not None:
        request["cloid"] = Cloid(spec.cloid)
    want = order_request_to_order_wire(request, spec.asset)  # type: ignore[arg-type]
    assert order_action([spec])["orders"][0] == want
    assert order_action([spec])["orders"][0] == want  # second time from the memo


def test_keccak_is_the_c_backend_and_ethereums_keccak() -> None:
    """Keccak-256 (not NIST SHA3-256, which pads differently) from eth-hash's pysha3 backend."""
    from eth_hash.backends import pycryptodome

    from amm500.venues.hyperliquid.signing import _keccak256

    assert type(_keccak256._backend).__name__ == "PySha3Backend"
    assert _keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    for n in (0, 31, 135, 136, 137, 4000):  # around the 136-byte rate
        data = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        assert _keccak256(data) == pycryptodome.keccak256(data)


@settings(max_examples=40, deadline=None)
@given(
    orders=st.lists(order_specs, min_size=0, max_size=25),
    nonce=st.integers(0, 2**64 - 1),
    vault=st.sampled_from([None, VAULT]),
    expires=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
)
def test_connection_id_is_the_sdks_action_hash(
    orders: list[OrderSpec], nonce: int, vault: str | None, expires: int | None
) -> None:
    signer = Signer(KEY, is_mainnet=False, vault_address=vault, expires_after=expires)
    action = batch_modify_action([(o.cloid or i, o) for i, o in enumerate(orders)])
    assert signer._connection_id(action, nonce) == action_hash(action, vault, nonce, expires)
