"""The dashboard: a loopback web page a person leaves open while the bot trades.

It only *reads* what the engine already publishes (docs/engine.md): the journal (read-only SQLite),
the heartbeat file and the bot's loopback endpoint (``GET /state``, ``GET /metrics``). The only thing
it ever sends is a person's command to ``POST /control``, with the bot's token, from the server side:
the page never touches the exchange and never sees a token or a key.

* :mod:`amm500.dashboard.model` turns a journal into the page's figures (read-only, no bot needed);
* :mod:`amm500.dashboard.bot` finds the bot (heartbeat presence, ``/state``, ``/metrics``, ``/control``);
* :mod:`amm500.dashboard.server` serves the page and pushes updates by server-sent events;
* :mod:`amm500.dashboard.replay` writes a finished journal as one static HTML file.
"""
