"""Hyperliquid venue: rounding, signing (via the official SDK), REST and WebSocket clients."""
