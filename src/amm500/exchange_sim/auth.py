"""Signature and nonce verification, written from the protocol description (not the client's helpers).

The local exchange must catch a client that signs the wrong bytes, so it rebuilds every signed
message itself: L1 actions are hashed as ``keccak(msgpack(action) ‖ nonce ‖ vault ‖ expiresAfter)``
and wrapped in the EIP-712 "phantom agent"; user-signed actions (``approveAgent``) are EIP-712 typed
data over the action's own fields. ``eth_account`` only recovers the address from the digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

#: EIP-712 field lists of the user-signed actions this exchange accepts (action type -> (name, fields)).
USER_SIGNED_TYPES: dict[str, tuple[str, list[dict[str, str]]]] = {
    "approveAgent": (
        "HyperliquidTransaction:ApproveAgent",
        [
            {"name": "hyperliquidChain", "type": "string"},
            {"name": "agentAddress", "type": "address"},
            {"name": "agentName", "type": "string"},
            {"name": "nonce", "type": "uint64"},
        ],
    ),
}


class AuthError(Exception):
    """A request the exchange refuses as a whole; ``str`` is Hyperliquid's error text."""


def _address_bytes(address: str) -> bytes:
    hexpart = address[2:] if address.startswith("0x") else address
    if len(hexpart) != 40:
        raise AuthError(f"Invalid address: {address}")
    try:
        return bytes.fromhex(hexpart)
    except ValueError:
        raise AuthError(f"Invalid address: {address}") from None


def l1_connection_id(action: Mapping[str, Any], nonce: int, vault: str | None, expires_after: int | None) -> bytes:
    """keccak256 of the msgpack'd action, the big-endian nonce, the vault flag/address and the expiry."""
    data = msgpack.packb(action)
    data += nonce.to_bytes(8, "big")
    data += b"\x00" if vault is None else b"\x01" + _address_bytes(vault)
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return bytes(keccak(data))


def _recover(full_message: dict[str, Any], signature: Mapping[str, Any]) -> str:
    try:
        r = int(str(signature["r"]), 16)
        s = int(str(signature["s"]), 16)
        v = int(signature["v"])
        encoded = encode_typed_data(full_message=full_message)
        return str(Account.recover_message(encoded, vrs=(v, r, s))).lower()
    except Exception:  # malformed r/s/v or a point off the curve: the exchange says the same thing
        raise AuthError("Unable to recover signer.") from None


def recover_l1_signer(
    action: Mapping[str, Any],
    nonce: int,
    signature: Mapping[str, Any],
    vault: str | None,
    expires_after: int | None,
    mainnet: bool,
) -> str:
    """The lowercase address that signed an L1 action (order, cancel, modify, ...)."""
    message = {
        "domain": {"chainId": 1337, "name": "Exchange", "verifyingContract": ZERO_ADDRESS, "version": "1"},
        "types": {
            "Agent": [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}],
            "EIP712Domain": _EIP712_DOMAIN,
        },
        "primaryType": "Agent",
        "message": {
            "source": "a" if mainnet else "b",
            "connectionId": l1_connection_id(action, nonce, vault, expires_after),
        },
    }
    return _recover(message, signature)


def recover_user_signed(action: Mapping[str, Any], signature: Mapping[str, Any]) -> str:
    """The lowercase address that signed a user-signed action (typed data over the action's fields)."""
    kind = str(action.get("type"))
    if kind not in USER_SIGNED_TYPES:
        raise AuthError(f"Unsupported user-signed action: {kind}")
    primary, fields = USER_SIGNED_TYPES[kind]
    try:
        chain_id = int(str(action["signatureChainId"]), 16)
    except (KeyError, ValueError):
        raise AuthError("Invalid signatureChainId") from None
    msg = {f["name"]: action.get(f["name"]) for f in fields}
    if kind == "approveAgent" and msg["agentName"] is None:
        msg["agentName"] = ""  # the SDK signs "" for an unnamed agent, then drops the key from the body
    if any(v is None for v in msg.values()):
        raise AuthError("Unable to recover signer.")
    message = {
        "domain": {"name": "HyperliquidSignTransaction", "version": "1", "chainId": chain_id,
                   "verifyingContract": ZERO_ADDRESS},
        "types": {primary: fields, "EIP712Domain": _EIP712_DOMAIN},
        "primaryType": primary,
        "message": msg,
    }
    return _recover(message, signature)


@dataclass
class NonceBook:
    """Hyperliquid's nonce rule per signer: keep the 100 highest; a new one must beat the smallest, be unused,
    and lie within (now - 2 days, now + 1 day)."""

    keep: int = 100
    _seen: dict[str, list[int]] = field(default_factory=dict)

    def check_and_use(self, signer: str, nonce: int, now_ms: int) -> None:
        if nonce <= now_ms - 2 * 86_400_000 or nonce >= now_ms + 86_400_000:
            raise AuthError(f"Invalid nonce: nonce {nonce} is outside the allowed time window")
        seen = self._seen.setdefault(signer, [])
        if nonce in seen:
            raise AuthError(f"Invalid nonce: duplicate nonce {nonce}")
        if len(seen) >= self.keep and nonce < seen[0]:
            raise AuthError(f"Invalid nonce: nonce too low {nonce} < {seen[0]}")
        seen.append(nonce)
        seen.sort()
        if len(seen) > self.keep:
            del seen[0]
