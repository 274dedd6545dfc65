"""The exchange-side simulation: matching, queue position, our resting orders, the account's truth.

One home for how an exchange treats our orders, run by the backtester over recorded days and by the
paper venue over a live feed.
"""
