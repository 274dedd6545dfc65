"""The trading journal: one SQLite file per account and mode, written off the hot path.

Everything the engine must be able to prove afterwards goes here: each run's config and version,
every order and every update to it, fills (deduplicated by the exchange's trade id), equity
snapshots, funding payments, trading-state transitions and risk events. The supervisor, the
dashboard and ``amm500 journal`` read it; a restarted bot reads its last fill time to ask the
exchange for what it missed.

Why a writer thread: a tick must never wait on disk. The engine calls :meth:`Journal.put`-style
methods, which only append a tuple to a queue; one thread drains the queue in batches, one
transaction per batch, in WAL mode (readers never block the writer). A SIGKILL can lose what was
still queued, never half of a batch; fills lost that way come back from the exchange at the next
start (``userFillsByTime`` since the last journalled fill) and land once, by trade id.

Why one file per account *and* mode: a paper account's fills must never be summed with a live
account's. The file records its mode, network and account on creation and refuses to be opened for
another.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

#: ``MIGRATIONS[i]`` takes a journal from schema version ``i`` to ``i + 1``. Append, never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_ns INTEGER NOT NULL, ended_ns INTEGER,
        pid INTEGER NOT NULL, version TEXT NOT NULL, config TEXT NOT NULL, stopped_by TEXT);
    CREATE TABLE orders (
        cloid TEXT PRIMARY KEY, run_id INTEGER NOT NULL, created_ns INTEGER NOT NULL, side INTEGER NOT NULL,
        px REAL NOT NULL, sz REAL NOT NULL, tif TEXT NOT NULL, reduce_only INTEGER NOT NULL,
        oid INTEGER, status TEXT NOT NULL, updated_ns INTEGER NOT NULL);
    CREATE TABLE order_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL, cloid TEXT, oid INTEGER,
        status TEXT NOT NULL, px REAL, sz REAL, detail TEXT);
    CREATE INDEX order_events_cloid ON order_events (cloid);
    CREATE TABLE fills (
        tid INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, run_id INTEGER NOT NULL, oid INTEGER NOT NULL,
        cloid TEXT, side INTEGER NOT NULL, px REAL NOT NULL, sz REAL NOT NULL, fee REAL NOT NULL,
        crossed INTEGER NOT NULL, start_position REAL NOT NULL, mid REAL);
    CREATE INDEX fills_time ON fills (time_ms);
    CREATE TABLE equity (
        ts_ns INTEGER NOT NULL, run_id INTEGER NOT NULL, equity REAL NOT NULL, position REAL NOT NULL,
        mid REAL, cash REAL, margin_used REAL, spread_bps REAL, regime INTEGER);
    CREATE INDEX equity_ts ON equity (ts_ns);
    CREATE TABLE funding (
        time_ms INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, rate REAL NOT NULL, payment REAL NOT NULL,
        position REAL NOT NULL);
    CREATE TABLE transitions (
        ts_ns INTEGER NOT NULL, run_id INTEGER NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL,
        reasons TEXT NOT NULL);
    CREATE TABLE risk_events (
        ts_ns INTEGER NOT NULL, run_id INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
    """,
)

_INSERTS = {
    "order": "INSERT OR IGNORE INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "order_status": "UPDATE orders SET status = ?, oid = COALESCE(?, oid), updated_ns = ? WHERE cloid = ?",
    "order_event": "INSERT INTO order_events (ts_ns, cloid, oid, status, px, sz, detail) VALUES (?,?,?,?,?,?,?)",
    "fill": "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    "equity": "INSERT INTO equity VALUES (?,?,?,?,?,?,?,?,?)",
    "funding": "INSERT OR IGNORE INTO funding VALUES (?,?,?,?,?)",
    "transition": "INSERT INTO transitions VALUES (?,?,?,?,?)",
    "risk_event": "INSERT INTO risk_events VALUES (?,?,?,?)",
    "run_end": "UPDATE runs SET ended_ns = ?, stopped_by = ? WHERE run_id = ?",
}


class JournalError(RuntimeError):
    """The journal cannot be trusted or used as asked (another mode's file, a newer schema, corrupt)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Whose journal this is. ``account`` is a public address (or ``paper``), never a key."""

    mode: str  # paper | live | rehearsal
    network: str
    account: str


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode; read-only ones never create the file."""
    if readonly:
        if not path.is_file():
            raise JournalError(f"{path}: no journal there")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    else:
        conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.row_factory = sqlite3.Row
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the file to :data:`SCHEMA_VERSION`, one migration per transaction."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise JournalError(f"journal schema {current} is newer than this AMM-500 reads ({SCHEMA_VERSION}): upgrade")
    for version in range(current, SCHEMA_VERSION):
        with conn:
            conn.executescript(f"BEGIN; {MIGRATIONS[version]}; PRAGMA user_version = {version + 1}; COMMIT;")


def check_identity(conn: sqlite3.Connection, identity: Identity) -> None:
    """Stamp a new file with ``identity``; refuse a file stamped for another mode, network or account."""
    meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
    if not meta:
        with conn:
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("mode", identity.mode), ("network", identity.network), ("account", identity.account)])
        return
    for field in ("mode", "network", "account"):
        if meta.get(field) != getattr(identity, field):
            raise JournalError(f"journal belongs to {field} {meta.get(field)!r}, not {getattr(identity, field)!r}: "
                               "paper, live and each account keep separate journals")


class Journal:
    """The writer. Open with :meth:`open`; every ``record_*`` call returns at once."""

    #: the writer commits whatever is queued at least this often (seconds)
    FLUSH_S = 0.05

    def __init__(self, path: Path, identity: Identity) -> None:
        self.path = path
        self.identity = identity
        self.run_id = 0
        self._q: queue.SimpleQueue[tuple[str, tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._error: BaseException | None = None
        self._idle = threading.Event()
        self.written = 0  # rows written, for metrics

    def open(self, config_json: str, version: str, pid: int) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = connect(self.path)
            migrate(conn)
            check_identity(conn, self.identity)
            with conn:
                cur = conn.execute("INSERT INTO runs (started_ns, pid, version, config) VALUES (?,?,?,?)",
                                   (time.time_ns(), pid, version, config_json))
            self.run_id = int(cur.lastrowid or 0)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: not a readable journal ({exc}); move it aside to start anew") from exc
        self._conn = conn
        self._thread = threading.Thread(target=self._writer, name="journal-writer", daemon=True)
        self._thread.start()
        return self

    # ---- the hot path's side: enqueue only ---------------------------------------------------------------

    def _put(self, kind: str, row: tuple[Any, ...]) -> None:
        self._idle.clear()
        self._q.put((kind, row))

    def record_order(self, cloid: str, created_ns: int, side: int, px: float, sz: float, tif: str,
                     reduce_only: bool) -> None:
        self._put("order", (cloid, self.run_id, created_ns, side, px, sz, tif, int(reduce_only), None, "sent",
                            created_ns))
        self._put("order_event", (created_ns, cloid, None, "sent", px, sz, tif))

    def record_order_status(self, ts_ns: int, cloid: str | None, oid: int | None, status: str,
                            px: float | None = None, sz: float | None = None, detail: str | None = None) -> None:
        if cloid is not None:
            self._put("order_status", (status, oid, ts_ns, cloid))
        self._put("order_event", (ts_ns, cloid, oid, status, px, sz, detail))

    def record_fill(self, tid: int, time_ms: int, oid: int, cloid: str | None, side: int, px: float, sz: float,
                    fee: float, crossed: bool, start_position: float, mid: float | None) -> None:
        self._put("fill", (tid, time_ms, self.run_id, oid, cloid, side, px, sz, fee, int(crossed), start_position,
                           mid))

    def record_equity(self, ts_ns: int, equity: float, position: float, mid: float, cash: float,
                      margin_used: float, spread_bps: float | None, regime: int | None) -> None:
        self._put("equity", (ts_ns, self.run_id, equity, position, mid, cash, margin_used, spread_bps, regime))

    def record_funding(self, time_ms: int, rate: float, payment: float, position: float) -> None:
        self._put("funding", (time_ms, self.run_id, rate, payment, position))

    def record_transition(self, ts_ns: int, old: str, new: str, reasons: Sequence[str]) -> None:
        self._put("transition", (ts_ns, self.run_id, old, new, json.dumps(list(reasons))))

    def record_risk_event(self, ts_ns: int, kind: str, detail: str) -> None:
        self._put("risk_event", (ts_ns, self.run_id, kind, detail))

    # ---- the writer thread -----------------------------------------------------------------------------

    def _writer(self) -> None:
        assert self._conn is not None
        conn = self._conn
        stop = False
        while not stop:
            try:
                first = self._q.get(timeout=self.FLUSH_S)
            except queue.Empty:
                self._idle.set()
                continue
            batch = [first]
            while True:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                stop = True
            rows = [item for item in batch if item is not None]
            try:
                with conn:
                    for kind, row in rows:
                        conn.execute(_INSERTS[kind], row)
                self.written += len(rows)
            except sqlite3.Error as exc:  # a full disk, a deleted file: surfaced by flush() and close()
                self._error = exc
            if self._q.empty():
                self._idle.set()
        conn.close()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything queued so far is committed (shutdown, tests)."""
        deadline = time.monotonic() + timeout_s
        while not (self._q.empty() and self._idle.wait(0.01)):
            if time.monotonic() > deadline:
                raise JournalError(f"{self.path}: the journal writer did not catch up in {timeout_s} s")
        if self._error is not None:
            raise JournalError(f"{self.path}: writing the journal failed: {self._error}")

    @property
    def failed(self) -> BaseException | None:
        return self._error

    def close(self, stopped_by: str = "") -> None:
        if self._thread is None:
            return
        self._put("run_end", (time.time_ns(), stopped_by, self.run_id))
        self._q.put(None)
        self._thread.join(timeout=10.0)
        self._thread = None
        if self._error is not None:
            raise JournalError(f"{self.path}: writing the journal failed: {self._error}")


# ---- readers ------------------------------------------------------------------------------------------


@contextmanager
def reader(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a journal whose schema this version understands."""
    try:
        with closing(connect(path, readonly=True)) as conn:
            version = schema_version(conn)
            if version != SCHEMA_VERSION:
                raise JournalError(f"{path}: journal schema {version}, this AMM-500 reads {SCHEMA_VERSION}"
                                   + (" (open it once with the bot to migrate)" if version < SCHEMA_VERSION else ""))
            yield conn
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path}: not a readable journal ({exc})") from exc


def identity_of(conn: sqlite3.Connection) -> Identity:
    meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
    return Identity(meta.get("mode", "?"), meta.get("network", "?"), meta.get("account", "?"))


def last_fill_ms(path: Path) -> int:
    """Where a restarted bot asks the exchange for fills from: the newest journalled fill's exchange
    time, or (none yet) the first run's start; 0 for a new journal."""
    if not path.is_file():
        return 0
    with reader(path) as conn:
        row = conn.execute("SELECT MAX(time_ms) FROM fills").fetchone()
        if row[0] is None:
            row = conn.execute("SELECT MIN(started_ns) / 1000000 FROM runs").fetchone()
    return int(row[0] or 0)


def fills(conn: sqlite3.Connection, since_ms: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM fills WHERE time_ms >= ? ORDER BY time_ms, tid"
    args: tuple[Any, ...] = (since_ms,)
    if limit is not None:
        sql = "SELECT * FROM (SELECT * FROM fills WHERE time_ms >= ? ORDER BY time_ms DESC, tid DESC LIMIT ?) " \
              "ORDER BY time_ms, tid"
        args = (since_ms, limit)
    return [dict(r) for r in conn.execute(sql, args)]


def summary(conn: sqlite3.Connection, horizons_s: Sequence[float] = (1.0, 10.0, 60.0)) -> dict[str, Any]:
    """The journal's account of a session, split like the backtest report: net = spread capture +
    inventory PnL - fees - funding (USD), with mark-outs of the fills against later journalled mids."""
    import numpy as np

    ident = identity_of(conn)
    f = conn.execute("SELECT COUNT(*), COALESCE(SUM(crossed = 0), 0), COALESCE(SUM(px * sz), 0), "
                     "COALESCE(SUM(fee), 0), COALESCE(SUM(CASE WHEN mid > 0 THEN side * (mid - px) * sz END), 0) "
                     "FROM fills").fetchone()
    n, maker, volume, fees, capture = int(f[0]), int(f[1]), float(f[2]), float(f[3]), float(f[4])
    funding = float(conn.execute("SELECT COALESCE(SUM(payment), 0) FROM funding").fetchone()[0])
    eq = conn.execute("SELECT ts_ns, equity, position, mid FROM equity ORDER BY ts_ns").fetchall()
    runs = conn.execute("SELECT COUNT(*), MIN(started_ns), MAX(COALESCE(ended_ns, started_ns)) FROM runs").fetchone()
    start_eq = float(eq[0]["equity"]) if eq else float("nan")
    end_eq = float(eq[-1]["equity"]) if eq else float("nan")
    net = end_eq - start_eq if eq else 0.0
    out: dict[str, Any] = {
        "mode": ident.mode, "network": ident.network, "account": ident.account,
        "runs": int(runs[0]), "first_start_ns": runs[1], "last_end_ns": runs[2],
        "fills": n, "maker_fills": maker, "maker_ratio": maker / n if n else None, "volume_usd": volume,
        "start_equity": start_eq if eq else None, "end_equity": end_eq if eq else None,
        "position": float(eq[-1]["position"]) if eq else None, "net_pnl": net,
        "spread_capture": capture, "inventory_pnl": net - capture + fees + funding, "fees": fees,
        "funding": funding,
    }
    marks: dict[str, float | None] = {}
    if eq and n:
        ts = np.array([r["ts_ns"] for r in eq], dtype=np.int64)
        mids = np.array([r["mid"] or np.nan for r in eq], dtype=float)
        rows = conn.execute("SELECT time_ms, side, px, sz FROM fills").fetchall()
        t = np.array([r[0] for r in rows], dtype=np.int64) * 1_000_000
        side = np.array([r[1] for r in rows], dtype=float)
        px = np.array([r[2] for r in rows], dtype=float)
        for h in horizons_s:
            i = np.searchsorted(ts, t + int(h * 1e9))
            ok = i < ts.size
            later = np.where(ok, mids[np.minimum(i, ts.size - 1)], np.nan)
            bps = side * (later - px) / px * 1e4
            bps = bps[np.isfinite(bps)]
            marks[f"{h:g}s"] = float(bps.mean()) if bps.size else None
    out["markouts_bps"] = marks
    out["transitions"] = [dict(r) for r in conn.execute(
        "SELECT ts_ns, old, new, reasons FROM transitions ORDER BY ts_ns DESC LIMIT 20")]
    out["risk_events"] = [dict(r) for r in conn.execute(
        "SELECT ts_ns, kind, detail FROM risk_events ORDER BY ts_ns DESC LIMIT 20")]
    return out
