"""L1 action signing: a thin, fast wrapper over the official SDK (``hyperliquid.utils.signing``).

Wire formats (order wires, the action dict) always come from the SDK. The SDK's ``sign_l1_action``
rebuilds the EIP-712 domain and re-parses the private key on every call (about 0.6 ms);
:class:`Signer` keeps the constant EIP-712 domain hash, the constant tail of the connection-id
preimage and one parsed key (coincurve), hashes with eth-hash's C keccak backend, and signs the
same digest. At construction it signs a probe action both ways and refuses the fast path unless the
signatures are byte-identical, so a future SDK change can cost speed but never correctness.

The private key lives only inside the ``eth_keys`` object: ``repr`` shows the address, never the key.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import coincurve
import msgpack
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak as _auto_keccak
from eth_hash.main import Keccak256
from eth_keys import keys as eth_keys_keys
from eth_keys.backends import CoinCurveECCBackend, get_backend
from eth_utils import keccak
from hyperliquid.utils.signing import (
    construct_phantom_agent,
    l1_payload,
    order_request_to_order_wire,
    order_wires_to_order_action,
    sign_l1_action,
)
from hyperliquid.utils.types import Cloid

from amm500.venues.hyperliquid.errors import WalletError
from amm500.venues.model import OrderSpec

log = logging.getLogger(__name__)


def _fast_keccak() -> Keccak256:
    """eth-hash's pysha3 backend (safe-pysha3, a C type: ~1 us a call) when installed, else eth-hash's default.

    eth-hash picks pycryptodome first when both are present; its cffi calls cost ~5 us per hash
    even for 32 bytes, and a signature takes three.
    """
    try:
        from eth_hash.backends import pysha3
    except ImportError:
        return _auto_keccak
    return Keccak256(pysha3.backend)


_keccak256 = _fast_keccak()

MAINNET_API_URL = "https://api.hyperliquid.xyz"
_EIP712_AGENT_TYPE = b"Agent(string source,bytes32 connectionId)"


def ecc_backend_name() -> str:
    """Which elliptic-curve backend eth-keys uses ('CoinCurveECCBackend' is the fast C one)."""
    return type(get_backend()).__name__


def is_mainnet_url(base_url: str) -> bool:
    """The SDK signs with source "a" only for this exact URL; everything else (testnet, local) uses "b"."""
    return base_url.rstrip("/") == MAINNET_API_URL


class NonceCounter:
    """Millisecond nonces that never repeat: the exchange rejects a duplicate nonce per signer."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            now = time.time_ns() // 1_000_000
            self._last = now if now > self._last else self._last + 1
            return self._last


def order_wire(order: OrderSpec) -> dict[str, Any]:
    """The SDK's order wire (key order a, b, p, s, r, t, c matters for the hash).

    Built by the SDK's ``order_request_to_order_wire`` once per (asset, side, px, sz, tif, reduce-only)
    and memoized: a requote mostly re-uses prices and sizes, and the formatting is the costly part.
    """
    key = order[:6]  # (asset, is_buy, px, sz, tif, reduce_only)
    base = _WIRE_CACHE.get(key)
    if base is None:
        if len(_WIRE_CACHE) >= _WIRE_CACHE_MAX:
            _WIRE_CACHE.clear()
        base = _WIRE_CACHE[key] = _sdk_order_wire(OrderSpec(*key))
    wire = base.copy()  # "t" is shared, read-only
    if order.cloid is not None:
        wire["c"] = order.cloid  # what the SDK's Cloid(cloid).to_raw() puts there: the string itself
    return wire


_WIRE_CACHE: dict[tuple[int, bool, float, float, str, bool], dict[str, Any]] = {}
_WIRE_CACHE_MAX = 8192


def _sdk_order_wire(order: OrderSpec) -> dict[str, Any]:
    request: dict[str, Any] = {
        "coin": "",
        "is_buy": order.is_buy,
        "sz": order.sz,
        "limit_px": order.px,
        "order_type": {"limit": {"tif": order.tif}},
        "reduce_only": order.reduce_only,
    }
    if order.cloid is not None:
        request["cloid"] = Cloid(order.cloid)
    return dict(order_request_to_order_wire(request, order.asset))


def order_action(orders: Sequence[OrderSpec], grouping: str = "na") -> dict[str, Any]:
    result: dict[str, Any] = order_wires_to_order_action([order_wire(o) for o in orders], None, grouping)
    return result


def batch_modify_action(modifies: Sequence[tuple[int | str, OrderSpec]]) -> dict[str, Any]:
    """``oid`` may be an exchange oid (int) or a cloid string, as the SDK's bulk_modify_orders_new sends."""
    return {"type": "batchModify", "modifies": [{"oid": oid, "order": order_wire(o)} for oid, o in modifies]}


def cancel_action(cancels: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """``cancels``: (asset, oid) pairs."""
    return {"type": "cancel", "cancels": [{"a": a, "o": o} for a, o in cancels]}


def cancel_by_cloid_action(cancels: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """``cancels``: (asset, cloid) pairs (the wire spells the keys out: asset, cloid)."""
    return {"type": "cancelByCloid", "cancels": [{"asset": a, "cloid": c} for a, c in cancels]}


def schedule_cancel_action(time_ms: int | None) -> dict[str, Any]:
    """Arm the dead-man's switch at ``time_ms`` (>= now + 5 s), or clear it with ``None``."""
    action: dict[str, Any] = {"type": "scheduleCancel"}
    if time_ms is not None:
        action["time"] = int(time_ms)
    return action


def update_leverage_action(asset: int, leverage: int, is_cross: bool = True) -> dict[str, Any]:
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": int(leverage)}


class Signer:
    """Signs L1 actions for one wallet (master or API/agent wallet) on one network."""

    __slots__ = (
        "_account",
        "_cc_key",
        "_domain_hash",
        "_fast",
        "_hash_tail",
        "_key",
        "_struct_prefix",
        "address",
        "expires_after",
        "is_mainnet",
        "nonces",
        "vault_address",
    )

    def __init__(
        self,
        private_key: str,
        *,
        is_mainnet: bool,
        vault_address: str | None = None,
        expires_after: int | None = None,
        fast: bool = True,
    ) -> None:
        try:
            account = Account.from_key(private_key)
        except Exception:
            # The exception text of eth-account can echo the key material: replace it wholesale.
            raise WalletError("network.private_key: not a valid 32-byte hex private key") from None
        self._account = account
        self._key = eth_keys_keys.PrivateKey(bytes(account.key))
        # eth-keys' coincurve backend rebuilds a coincurve key (and its public key) on every call;
        # holding one saves ~0.1 ms per signature. Same library, same RFC 6979 signature. When
        # eth-keys is configured for another backend (ECC_BACKEND_CLASS), that choice is followed.
        use_cc = isinstance(get_backend(), CoinCurveECCBackend)
        self._cc_key = coincurve.PrivateKey(bytes(account.key)) if use_cc else None
        self.address: str = account.address.lower()
        self.is_mainnet = is_mainnet
        self.vault_address = vault_address.lower() if vault_address else None
        self.expires_after = expires_after
        self.nonces = NonceCounter()
        probe = construct_phantom_agent(b"\x00" * 32, is_mainnet)
        signable = encode_typed_data(full_message=l1_payload(probe))
        self._domain_hash: bytes = bytes(signable.header)
        self._struct_prefix = keccak(_EIP712_AGENT_TYPE) + keccak(text=probe["source"])
        # What the SDK's action_hash appends after the msgpack'd action and the nonce: constant per signer.
        tail = b"\x00" if self.vault_address is None else b"\x01" + bytes.fromhex(self.vault_address[2:])
        if expires_after is not None:
            tail += b"\x00" + expires_after.to_bytes(8, "big")
        self._hash_tail = tail
        self._fast = fast and self._fast_path_agrees()
        if fast and not isinstance(get_backend(), CoinCurveECCBackend):
            log.warning("eth-keys is using %s: install coincurve for ~10x faster signing", ecc_backend_name())

    def __repr__(self) -> str:
        net = "mainnet" if self.is_mainnet else "testnet/local"
        return f"Signer(address={self.address}, {net}, vault={self.vault_address}, fast={self._fast})"

    @property
    def fast(self) -> bool:
        return self._fast

    def _connection_id(self, action: Mapping[str, Any], nonce: int) -> bytes:
        """The SDK's ``action_hash`` (msgpack(action) | nonce | vault flag+address | expiry), hashed by
        :data:`_keccak256`; the probe in ``__init__`` and the tests hold it to the SDK's own result."""
        return _keccak256(msgpack.packb(action) + nonce.to_bytes(8, "big") + self._hash_tail)

    def _digest(self, connection_id: bytes) -> bytes:
        # eth-hash's keccak256 directly (eth-utils' keccak adds argument-checking wrappers)
        struct_hash = _keccak256(self._struct_prefix + connection_id)
        return _keccak256(b"\x19\x01" + self._domain_hash + struct_hash)

    def _fast_path_agrees(self) -> bool:
        probe_action = {"type": "scheduleCancel", "time": 123456789}
        want = sign_l1_action(self._account, probe_action, self.vault_address, 1, self.expires_after, self.is_mainnet)
        got = self._sign_fast(probe_action, 1)
        if got != want:
            log.warning("fast L1 signing disagrees with the SDK; using the SDK's sign_l1_action")
            return False
        return True

    def _sign_fast(self, action: Mapping[str, Any], nonce: int) -> dict[str, Any]:
        digest = self._digest(self._connection_id(action, nonce))
        if self._cc_key is not None:
            sig = self._cc_key.sign_recoverable(digest, hasher=None)
            r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        else:
            v, r, s = self._key.sign_msg_hash(digest).vrs
        return {"r": hex(r), "s": hex(s), "v": v + 27}  # == eth_utils.to_hex for ints (no leading zeros)

    def sign(self, action: Mapping[str, Any], nonce: int) -> dict[str, Any]:
        """The ``{"r","s","v"}`` signature the SDK's ``sign_l1_action`` would produce."""
        if self._fast:
            return self._sign_fast(action, nonce)
        sig: dict[str, Any] = sign_l1_action(
            self._account, action, self.vault_address, nonce, self.expires_after, self.is_mainnet
        )
        return sig

    def envelope(self, action: Mapping[str, Any], nonce: int | None = None) -> dict[str, Any]:
        """The full ``/exchange`` body (also the payload of a WebSocket ``post`` action)."""
        n = self.nonces.next() if nonce is None else nonce
        return {
            "action": action,
            "nonce": n,
            "signature": self.sign(action, n),
            "vaultAddress": self.vault_address,
            "expiresAfter": self.expires_after,
        }


def describe_signer_error(
    message: str, signer_address: str, account_address: str | None, vault_address: str | None = None
) -> str | None:
    """Turn the exchange's "User or API Wallet 0x.. does not exist." into which address is wrong."""
    lowered = message.lower()
    if vault_address and "vault" in lowered and ("authorized" in lowered or "not a" in lowered):
        return (
            f"network.vault_address = {vault_address}: the key ({signer_address}) and its master may not trade "
            f"for this vault/sub-account ({message.strip()}); fix vault_address or use the leader's key"
        )
    if "does not exist" not in lowered and "must deposit" not in lowered and "recover signer" not in lowered:
        return None
    named = re.findall(r"0x[0-9a-fA-F]{40}", message)
    recovered = named[0].lower() if named else None
    parts = [f"the exchange rejected the signature ({message.strip()})"]
    if recovered is not None and recovered != signer_address.lower():
        parts.append(
            f"it recovered {recovered}, but the key signs as {signer_address}: the signing key or network is wrong"
        )
    elif account_address and account_address.lower() != signer_address.lower():
        parts.append(
            f"the key derives agent address {signer_address}, which is not an approved API wallet of "
            f"network.account_address {account_address}: approve it on the master account or fix account_address"
        )
    else:
        parts.append(
            f"the key's address {signer_address} has no account on this network: deposit first, or set "
            "network.account_address to the master account if this key is an API (agent) wallet"
        )
    return "; ".join(parts)
