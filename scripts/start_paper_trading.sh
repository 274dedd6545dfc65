#!/usr/bin/env bash
# The seed's menu: 1 paper trading, 2 live trading (typed LIVE confirmation). Extra arguments go to the bot.
# Runs the bot under the supervisor when `amm500 supervise` exists, directly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin/amm500
[ -x "$BIN" ] || { echo "run 'make setup' first" >&2; exit 2; }

echo "AMM-500"
echo "  1) paper trading (live market data, simulated fills, no key)"
echo "  2) LIVE trading (real orders with AMM500_PRIVATE_KEY)"
read -r -p "choose 1 or 2: " choice
read -r -p "network [mainnet/testnet/local or URL] (default testnet): " network
network=${network:-testnet}

case "$choice" in
  1) mode=paper; extra=() ;;
  2)
    mode=live
    if [ "$network" = "mainnet" ]; then
      read -r -p "This trades REAL MONEY on mainnet. Type LIVE to continue: " confirm
      [ "$confirm" = "LIVE" ] || { echo "not confirmed: nothing was started" >&2; exit 2; }
      extra=(--i-understand-this-is-real-money)
    else
      extra=()
    fi
    ;;
  *) echo "choose 1 or 2" >&2; exit 2 ;;
esac

if "$BIN" supervise --help >/dev/null 2>&1; then
  exec "$BIN" supervise -- "$mode" --network "$network" "${extra[@]}" "$@"
fi
exec "$BIN" "$mode" --network "$network" "${extra[@]}" "$@"
