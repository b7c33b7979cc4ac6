"""The emulator's state: responses, items and conversations in memory, optionally mirrored to SQLite.

Memory is the source of truth while the server runs; with a database every mutation is written through
at the end of the request (``commit``), and the whole state is loaded back at start-up.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from convotest.errors import ConfigError

__all__ = ["EPOCH", "RUN", "RUN_HEADER", "Store"]

#: ``created_at`` of the first object: 2026-01-01T00:00:00Z; every generated id advances the clock by 1 s.
EPOCH = 1_767_225_600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, data TEXT NOT NULL);
"""
_TABLES = ("responses", "items", "conversations")
_FORMAT = "convotest-emulator-1"


#: The id namespace of the request being handled (the ``x-convotest-run`` header; "" when absent).
RUN: ContextVar[str] = ContextVar("convotest_emulator_run", default="")
#: The request header that names a run's id namespace.
RUN_HEADER = "x-convotest-run"


class Store:
    """Responses, items and conversations by id, id counters, and a lock for their mutation.

    Ids and timestamps come from a counter per run namespace (``RUN``): a run that names itself gets
    the same ids whatever else the server handled before or alongside it, so re-recording one scenario
    on a shared emulator (or under xdist) reproduces its cassette byte for byte.
    """

    def __init__(self, db: str | None = None, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self._counters: dict[str, int] = {}
        #: resp id → {"body": response object, "input_ids": [...], "chain_ids": [...]}
        self.responses: dict[str, dict[str, Any]] = {}
        #: item id → item as listed by the API
        self.items: dict[str, dict[str, Any]] = {}
        #: conv id → {"object": conversation object, "item_ids": [...]}
        self.conversations: dict[str, dict[str, Any]] = {}
        #: Ids clients sent that this store did not make (e.g. output items of a recording replayed before
        #: this server started): new ids step over them, as the real API's random ids never meet them.
        self._given_ids: set[str] = set()
        self._dirty: dict[str, set[str]] = {t: set() for t in _TABLES}
        self._deleted: dict[str, set[str]] = {t: set() for t in _TABLES}
        self._db: sqlite3.Connection | None = None
        if db is not None:
            self._open(db)

    # -- ids and clock --

    @property
    def counter(self) -> int:
        """The id counter of the current run namespace."""
        return self._counters.get(RUN.get(), 0)

    @counter.setter
    def counter(self, value: int) -> None:
        self._counters[RUN.get()] = value

    def _basis(self) -> str:
        run = RUN.get()
        return f"{self.seed}:{self.counter}" if not run else f"{self.seed}:{run}:{self.counter}"

    def new_id(self, prefix: str, length: int = 50) -> str:
        """A fresh id: ``prefix`` + hex derived from the seed, the run namespace and its counter.

        The counter moves on past an id already in use: one a client sent (``note_given_ids``) or one held.
        Replaying part of a recording and sending the rest here (``new_episodes``) resends ids another
        server made from the same seed and namespace; a new item must not take one of them.
        """
        while True:
            self.counter += 1
            candidate = prefix + hashlib.sha256(self._basis().encode()).hexdigest()[:length]
            if not self._in_use(candidate):
                return candidate

    def _in_use(self, candidate: str) -> bool:
        return (
            candidate in self._given_ids
            or candidate in self.items
            or candidate in self.responses
            or candidate in self.conversations
        )

    def note_given_ids(self, ids: Iterable[str]) -> None:
        """Remember ids a client sent, so that ``new_id`` never makes one of them."""
        self._given_ids.update(ids)

    def new_token(self, prefix: str, length: int) -> str:
        """Like ``new_id`` but alphanumeric (mixed case), as Chat ``chatcmpl-`` and ``call_`` ids are."""
        self.counter += 1
        digest = hashlib.sha256(f"{self._basis()}:alnum".encode()).digest()
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        number = int.from_bytes(digest, "big")
        out = []
        for _ in range(length):
            number, rem = divmod(number, 62)
            out.append(alphabet[rem])
        return prefix + "".join(out)

    def now(self) -> int:
        """The emulator clock: a fixed epoch plus the id counter, so timestamps are reproducible."""
        return EPOCH + self.counter

    # -- mutation bookkeeping --

    def put_response(self, rid: str, record: dict[str, Any]) -> None:
        """Store (or replace) a response record."""
        self.responses[rid] = record
        self._touch("responses", rid)

    def drop_response(self, rid: str) -> None:
        """Forget a response."""
        self.responses.pop(rid, None)
        self._gone("responses", rid)

    def put_item(self, item: dict[str, Any]) -> None:
        """Store (or replace) an item by its id."""
        iid = item["id"]
        self.items[iid] = item
        self._touch("items", iid)

    def put_conversation(self, cid: str, record: dict[str, Any]) -> None:
        """Store (or replace) a conversation record."""
        self.conversations[cid] = record
        self._touch("conversations", cid)

    def drop_conversation(self, cid: str) -> None:
        """Forget a conversation (its items stay addressable by responses that used them)."""
        self.conversations.pop(cid, None)
        self._gone("conversations", cid)

    def _touch(self, table: str, key: str) -> None:
        if self._db is not None:
            self._dirty[table].add(key)
            self._deleted[table].discard(key)

    def _gone(self, table: str, key: str) -> None:
        if self._db is not None:
            self._deleted[table].add(key)
            self._dirty[table].discard(key)

    def commit(self) -> None:
        """Write this request's changes (and the id counter) to the database, if there is one."""
        db = self._db
        if db is None:
            return
        sources: dict[str, dict[str, dict[str, Any]]] = {
            "responses": self.responses,
            "items": self.items,
            "conversations": self.conversations,
        }
        with db:
            for table in _TABLES:
                dirty = self._dirty[table]
                if dirty:
                    src = sources[table]
                    db.executemany(
                        f"INSERT OR REPLACE INTO {table} (id, data) VALUES (?, ?)",
                        [(key, json.dumps(src[key], separators=(",", ":"))) for key in dirty if key in src],
                    )
                    dirty.clear()
                gone = self._deleted[table]
                if gone:
                    db.executemany(f"DELETE FROM {table} WHERE id = ?", [(key,) for key in gone])
                    gone.clear()
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counters', ?)", (json.dumps(self._counters),))

    def close(self) -> None:
        """Flush and close the database."""
        if self._db is not None:
            with self.lock:
                self.commit()
                self._db.close()
                self._db = None

    # -- persistence --

    def _open(self, db: str) -> None:
        path = Path(db)
        if path.exists() and path.is_dir():
            raise ConfigError(f"emulator database {db}: is a directory, not a SQLite file")
        if not path.parent.exists():
            raise ConfigError(f"emulator database {db}: directory {path.parent} does not exist")
        try:
            conn = sqlite3.connect(str(path), check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None:
                with conn:
                    conn.execute("INSERT INTO meta (key, value) VALUES ('format', ?)", (_FORMAT,))
            elif row[0] != _FORMAT:
                raise ConfigError(f"emulator database {db}: unsupported format {row[0]!r} (expected {_FORMAT})")
            self._load(conn)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"emulator database {db} cannot be used: {exc} (delete it or pass another --db)"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"emulator database {db} holds unreadable state: {exc}") from None
        self._db = conn

    def _load(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'counters'").fetchone()
        counters = json.loads(row[0]) if row else {}
        if not isinstance(counters, dict) or not all(isinstance(v, int) for v in counters.values()):
            raise ValueError("the id counters are not a mapping of integers")
        self._counters = {str(k): v for k, v in counters.items()}
        row = conn.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone()
        if row is None:
            with conn:
                conn.execute("INSERT INTO meta (key, value) VALUES ('seed', ?)", (str(self.seed),))
        targets: dict[str, dict[str, dict[str, Any]]] = {
            "responses": self.responses,
            "items": self.items,
            "conversations": self.conversations,
        }
        for table, target in targets.items():
            for key, data in conn.execute(f"SELECT id, data FROM {table}"):
                value = json.loads(data)
                if not isinstance(value, dict):
                    raise ValueError(f"{table} row {key!r} is not an object")
                target[key] = value
