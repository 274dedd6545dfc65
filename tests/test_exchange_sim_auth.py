"""Signatures and nonces: the local exchange recovers signers with its own message construction."""

from __future__ import annotations

import eth_account
import pytest
from hyperliquid.utils.signing import sign_agent

from amm500.exchange_sim.auth import AuthError, NonceBook, l1_connection_id, recover_l1_signer
from exchange_sim_helpers import NOW_MS, frozen_exchange, next_nonce, order_wire, set_book, signed

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
ADDR = "0x14791697260e4c9a71f18484c9f997b308e59325"
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
DUMMY = {"type": "dummy", "num": 100000000000}

# The SDK's published vectors (reference 4.5): (action, vault, mainnet, r, s, v), all signed by KEY at nonce 0.
VECTORS = [
    (DUMMY, None, True, "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
     "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8", 27),
    (DUMMY, None, False, "0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
     "0x17b8b32f086e8cdede991f1e2c529f5dd5297cbe8128500e00cbaf766204a613", 28),
    (DUMMY, VAULT, True, "0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
     "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c", 28),
    (DUMMY, VAULT, False, "0xe281d2fb5c6e25ca01601f878e4d69c965bb598b88fac58e475dd1f5e56c362b",
     "0x7ddad27e9a238d045c035bc606349d075d5c5cd00a6cd1da23ab5c39d4ef0f60", 27),
    ({"type": "scheduleCancel", "time": 123456789}, None, False,
     "0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
     "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678", 27),
]


@pytest.mark.parametrize(("action", "vault", "mainnet", "r", "s", "v"), VECTORS)
def test_published_vectors_recover_the_signer(action: dict, vault: str | None, mainnet: bool, r: str, s: str,
                                              v: int) -> None:
    assert recover_l1_signer(action, 0, {"r": r, "s": s, "v": v}, vault, None, mainnet) == ADDR
    # the same signature over the other network's phantom agent names someone else
    assert recover_l1_signer(action, 0, {"r": r, "s": s, "v": v}, vault, None, not mainnet) != ADDR


def test_connection_id_matches_the_reference_bytes() -> None:
    action = {"type": "order", "orders": [{"a": 4, "b": True, "p": "1670.1", "s": "0.0147", "r": False,
                                           "t": {"limit": {"tif": "Ioc"}}}], "grouping": "na"}
    assert l1_connection_id(action, 1677777606040, None, None).hex() == (
        "0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908")


def test_nonce_book_rules() -> None:
    book = NonceBook(keep=3)
    for n in (NOW_MS + 1, NOW_MS + 2, NOW_MS + 3):
        book.check_and_use("0xa", n, NOW_MS)
    with pytest.raises(AuthError, match=f"^Invalid nonce: duplicate nonce {NOW_MS + 2}$"):
        book.check_and_use("0xa", NOW_MS + 2, NOW_MS)
    with pytest.raises(AuthError, match=f"^Invalid nonce: nonce too low {NOW_MS} < {NOW_MS + 1}$"):
        book.check_and_use("0xa", NOW_MS, NOW_MS)
    book.check_and_use("0xb", NOW_MS, NOW_MS)  # nonces are per signer
    book.check_and_use("0xa", NOW_MS + 10, NOW_MS)  # evicts the smallest: +1
    with pytest.raises(AuthError, match="too low"):
        book.check_and_use("0xa", NOW_MS + 1, NOW_MS)
    with pytest.raises(AuthError, match="outside the allowed time window"):
        book.check_and_use("0xa", NOW_MS + 86_400_000, NOW_MS)
    with pytest.raises(AuthError, match="outside the allowed time window"):
        book.check_and_use("0xa", NOW_MS - 2 * 86_400_000, NOW_MS)


def test_wrong_signer_reused_and_low_nonce_are_rejected_with_hyperliquid_shapes() -> None:
    user = eth_account.Account.create()
    stranger = eth_account.Account.create()
    ex = frozen_exchange({user.address: 1000.0})
    noop = {"type": "noop"}
    assert ex.action(signed(user, noop))["status"] == "ok"
    assert ex.action(signed(stranger, noop)) == {
        "status": "err", "response": f"User or API Wallet {stranger.address.lower()} does not exist."}
    env = signed(user, noop)
    assert ex.action(env)["status"] == "ok"
    assert ex.action(env) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {env['nonce']}"}
    # fill the 100-nonce window, then go below its smallest member
    base = next_nonce() + 1000
    for i in range(100):
        assert ex.action(signed(user, noop, nonce=base + i))["status"] == "ok"
    assert ex.action(signed(user, noop, nonce=base - 1)) == {
        "status": "err", "response": f"Invalid nonce: nonce too low {base - 1} < {base}"}


def test_tampered_action_or_garbage_signature() -> None:
    user = eth_account.Account.create()
    ex = frozen_exchange({user.address: 1000.0})
    set_book(ex, [(100.0, 1.0)], [(101.0, 1.0)])
    env = signed(user, {"type": "order", "orders": [order_wire("99", "0.2")], "grouping": "na"})
    env["action"]["orders"][0]["s"] = "0.3"  # the signature no longer covers the body: someone else "signed" it
    reply = ex.action(env)
    assert reply["status"] == "err" and reply["response"].startswith("User or API Wallet 0x")
    assert user.address.lower() not in reply["response"]
    env = signed(user, {"type": "noop"})
    env["signature"] = {"r": "0x0", "s": "0x0", "v": 27}
    assert ex.action(env) == {"status": "err", "response": "Unable to recover signer."}
    assert ex.books[0].user_orders(user.address.lower()) == []


def test_agent_wallet_trades_for_its_master_and_is_replaced_by_name() -> None:
    master = eth_account.Account.create()
    agent = eth_account.Account.create()
    ex = frozen_exchange({master.address: 1000.0})
    set_book(ex, [(100.0, 1.0)], [(101.0, 1.0)])
    nonce = next_nonce()
    approve = {"type": "approveAgent", "agentAddress": agent.address, "agentName": "bot", "nonce": nonce}
    sig = sign_agent(master, approve, False)  # fills in signatureChainId and hyperliquidChain
    reply = ex.action({"action": approve, "nonce": nonce, "signature": sig, "vaultAddress": None,
                       "expiresAfter": None})
    assert reply == {"status": "ok", "response": {"type": "default"}}
    statuses = ex.action(signed(agent, {"type": "order", "orders": [order_wire("99", "0.2")], "grouping": "na"}))
    oid = statuses["response"]["data"]["statuses"][0]["resting"]["oid"]
    assert [o.oid for o in ex.books[0].user_orders(master.address.lower())] == [oid]
    # a second agent under the same name deregisters the first
    agent2 = eth_account.Account.create()
    nonce = next_nonce()
    approve = {"type": "approveAgent", "agentAddress": agent2.address, "agentName": "bot", "nonce": nonce}
    sig = sign_agent(master, approve, False)
    ex.action({"action": approve, "nonce": nonce, "signature": sig, "vaultAddress": None, "expiresAfter": None})
    assert ex.action(signed(agent, {"type": "noop"}))["response"].startswith("User or API Wallet")
    assert ex.action(signed(agent2, {"type": "noop"}))["status"] == "ok"


def test_unnamed_agent_signed_with_empty_name_and_key_dropped() -> None:
    master = eth_account.Account.create()
    agent = eth_account.Account.create()
    ex = frozen_exchange({master.address: 1000.0})
    nonce = next_nonce()
    approve = {"type": "approveAgent", "agentAddress": agent.address, "agentName": "", "nonce": nonce}
    sig = sign_agent(master, approve, False)
    del approve["agentName"]  # what the SDK posts for an unnamed agent
    ex.action({"action": approve, "nonce": nonce, "signature": sig, "vaultAddress": None, "expiresAfter": None})
    assert ex.action(signed(agent, {"type": "noop"}))["status"] == "ok"


def test_approve_agent_for_the_wrong_chain_is_rejected() -> None:
    master = eth_account.Account.create()
    ex = frozen_exchange({master.address: 1000.0})
    nonce = next_nonce()
    approve = {"type": "approveAgent", "agentAddress": eth_account.Account.create().address, "agentName": "x",
               "nonce": nonce}
    sig = sign_agent(master, approve, True)  # signed for Mainnet; this exchange is "Testnet"
    reply = ex.action({"action": approve, "nonce": nonce, "signature": sig, "vaultAddress": None,
                       "expiresAfter": None})
    assert reply == {"status": "err", "response": "Unable to recover signer."}


def test_vault_orders_need_the_leader() -> None:
    leader = eth_account.Account.create()
    other = eth_account.Account.create()
    vault = eth_account.Account.create().address.lower()
    ex = frozen_exchange({leader.address: 100.0, other.address: 100.0})
    ex.fund(vault, 5000.0, leader=leader.address)
    set_book(ex, [(100.0, 1.0)], [(101.0, 1.0)])
    action = {"type": "order", "orders": [order_wire("99", "0.2")], "grouping": "na"}
    reply = ex.action(signed(leader, action, vault=vault))
    assert "resting" in reply["response"]["data"]["statuses"][0]
    assert len(ex.books[0].user_orders(vault)) == 1 and ex.books[0].user_orders(leader.address.lower()) == []
    reply = ex.action(signed(other, action, vault=vault))
    assert reply["status"] == "err" and "not authorized" in reply["response"]
    # the vault flag is part of the signed bytes: the same signature without it recovers someone else
    env = signed(leader, action, vault=vault)
    env["vaultAddress"] = None
    assert ex.action(env)["response"].startswith("User or API Wallet")


def test_expired_action_is_rejected() -> None:
    user = eth_account.Account.create()
    ex = frozen_exchange({user.address: 1000.0})
    assert ex.action(signed(user, {"type": "noop"}, expires=NOW_MS + 1000))["status"] == "ok"
    reply = ex.action(signed(user, {"type": "noop"}, expires=NOW_MS - 1))
    assert reply["status"] == "err" and "expired" in reply["response"]


def test_unfunded_signer_must_deposit() -> None:
    user = eth_account.Account.create()
    ex = frozen_exchange({user.address: 0.0})
    assert ex.action(signed(user, {"type": "noop"})) == {
        "status": "err", "response": f"Must deposit before performing actions. User: {user.address.lower()}"}
