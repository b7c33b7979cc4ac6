"""The one module that imports vcrpy: cassettes with indexed, ordered replay and atomic writes.

``open_cassette`` patches the HTTP stack for the duration of one scenario run. In replay, every
recorded interaction is indexed by its ``matching.RequestShape`` key, so finding a request's response
costs the same at turn 1,000 as at turn 1; equal requests replay in recorded order. A cassette is
written only when the run finishes well (``CassetteSession.keep()``), through a temporary file and a
rename, so an interrupted or failed recording never touches the previous cassette.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import os
import secrets
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import vcr
import vcr.cassette
import vcr.errors
import vcr.request
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.record_mode import RecordMode

from convotest.errors import CassetteError
from convotest.incremental_json import HistoryParser, ParsedBody, history_field
from convotest.recording import cassette_format
from convotest.recording.matching import IdCanonicaliser, RequestShape, Shaper
from convotest.recording.scrub import Scrubber

__all__ = ["RECORD_MODES", "CassetteSession", "NoMatch", "is_no_match", "open_cassette"]

#: Record modes, as ``--convo-record-mode`` spells them.
RECORD_MODES: tuple[str, ...] = ("none", "once", "new_episodes", "all", "rewrite")

_VCR_MODES = {
    "none": RecordMode.NONE,
    "once": RecordMode.ONCE,
    "new_episodes": RecordMode.NEW_EPISODES,
    "all": RecordMode.ALL,
    # rewrite records everything afresh and replaces the file only when the run succeeds.
    "rewrite": RecordMode.ALL,
}


@dataclass
class NoMatch:
    """Why a request had no recorded response: the request, and the closest recorded candidate."""

    shape: RequestShape
    #: (1-based interaction number, its shape) of the most likely intended interaction, if any.
    closest: tuple[int, RequestShape] | None
    recorded: int
    played: int
    cassette_missing: bool


class _LoadedRequest(vcr.request.Request):  # type: ignore[misc]
    """A request read from a cassette: a JSON body stays parsed until something reads its bytes.

    Replay matches on the parsed body; rendering thousands of resent histories back to text at load
    time would cost as much as the cassette is long, for nothing.
    """

    parsed: cassette_format.JsonBody | None = None
    _raw: Any = None

    def __init__(self, method: str, uri: str, body: Any, headers: Any) -> None:
        parsed = body if isinstance(body, cassette_format.JsonBody) else None
        super().__init__(method, uri, None if parsed is not None else body, headers)
        self.parsed = parsed

    @property
    def _body(self) -> Any:
        if self._raw is None and self.parsed is not None:
            self._raw = self.parsed.text().encode("utf-8")
        return self._raw

    @_body.setter
    def _body(self, value: Any) -> None:
        self._raw = value
        if value is not None:
            self.parsed = None

    def __deepcopy__(self, memo: dict[int, Any]) -> _LoadedRequest:
        # vcrpy deep-copies every request it filters; the parsed body is read-only, so it is shared.
        clone = copy.copy(self)
        clone.headers = copy.deepcopy(self.headers, memo)
        return clone


class _AtomicPersister:
    """vcrpy persister: our format, errors as ``CassetteError``, writes via temp file + rename."""

    @staticmethod
    def load_cassette(cassette_path: str, serializer: Any) -> tuple[list[Any], list[Any], dict[str, Any]]:
        path = Path(cassette_path)
        if not path.is_file():
            raise CassetteNotFoundError()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CassetteError(path, "not UTF-8 text; delete it and re-record") from None
        except OSError as exc:
            raise CassetteError(path, f"cannot be read ({exc.strerror or exc}); check its permissions") from None
        if not text.strip():
            raise CassetteError(path, "the cassette is empty; delete it and re-record")
        data = cassette_format.deserialize(text, str(path), parsed_requests=True)
        requests = [_LoadedRequest(**i["request"]) for i in data["interactions"]]
        responses = [i["response"] for i in data["interactions"]]
        return requests, responses, data.get("metadata") or {}

    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
        interactions = [
            {"request": request._to_dict(), "response": response}
            for request, response in zip(cassette_dict["requests"], cassette_dict["responses"], strict=True)
        ]
        text = cassette_format.serialize(
            {"version": 1, "interactions": interactions, "metadata": cassette_dict.get("metadata") or {}}
        )
        write_atomic(Path(cassette_path), text)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half of one.

    The text goes to a hidden ``.<name>.<pid>.<random>.tmp`` next to ``path`` (created with the user's
    umask, like any file they write), is synced, then renamed over ``path``. A writer killed before the
    rename (SIGKILL, power loss) leaves its temporary file behind; the next successful write of the same
    cassette removes those of writers that are no longer running.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue
        break
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _remove_stale_temps(path)


def _remove_stale_temps(path: Path) -> None:
    """Delete the temporary files of earlier writers of ``path`` whose process is gone."""
    if os.name == "nt":  # no signal-0 probe there (os.kill would terminate the process)
        return
    prefix = f".{path.name}."
    for temp in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = temp.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, as another user
        return True
    return True


class _IndexedCassette(vcr.cassette.Cassette):  # type: ignore[misc]
    """A vcrpy cassette whose lookups are dict hits on canonical request keys, in recorded order."""

    volatile: tuple[str, ...] = ()
    #: Replaces secrets in text (the run's scrubber), applied to live bodies before matching.
    scrub: Callable[[str], str] | None = None
    header: dict[str, Any] = {}  # noqa: RUF012 - replaced per run by open_cassette's subclass
    #: Start empty even when a file exists (``rewrite``); the file is replaced only on success.
    fresh: bool = False

    @staticmethod
    def turn_source() -> int | None:
        """The scenario turn being driven (set per run)."""
        return None

    def _load(self) -> None:
        self._index: dict[tuple[str, str, str, str], deque[int]] = defaultdict(deque)
        self._shapes: list[RequestShape] = []
        self._shaper = Shaper(self.volatile, self.scrub)
        self._recorded_ids = IdCanonicaliser()
        self._recorded_parser = HistoryParser()
        self._recorded_last: dict[str, RequestShape] = {}
        self._live_ids = IdCanonicaliser()
        self._live_parser = HistoryParser()
        self._live_last: dict[str, RequestShape] = {}
        #: The last live request shaped: (request, size of the live id map then, its shape, its id map fork).
        self._shaped: tuple[Any, int, RequestShape | None, IdCanonicaliser] | None = None
        self._turns: dict[int, int | None] = {}
        self.last_no_match: NoMatch | None = None
        self.file_existed = Path(self._path).is_file()
        if self.fresh:
            return
        self._loading = True
        try:
            # Reading, indexing and shaping a long cassette builds a large acyclic structure (see load_yaml).
            with cassette_format.collector_paused():
                super()._load()
        finally:
            self._loading = False
        metadata: dict[str, Any] = getattr(self, "_metadata", None) or {}
        recorded = metadata.get("convotest", {}).get("turns")
        if isinstance(recorded, list) and len(recorded) == len(self.data):
            for (request, _), turn in zip(self.data, recorded, strict=True):
                self._turns[id(request)] = turn if isinstance(turn, int) else None

    def append(self, request: Any, response: Any) -> None:
        before = len(self.data)
        super().append(request, response)
        if len(self.data) == before:
            return
        stored, stored_response = self.data[-1]
        shape = self._shape_recorded(stored)
        self._recorded_ids.learn(stored_response.get("body", {}).get("string", b""))
        self._shapes.append(shape)
        if getattr(self, "_loading", False):
            # Only what was on disk is replayable; what this run records is not played back to it.
            self._index[shape.key].append(len(self.data) - 1)
        else:
            self._turns[id(stored)] = self.turn_source()

    def _shape_recorded(self, stored: Any) -> RequestShape:
        """A recorded request's shape; a body stored as a delta costs only the items it added."""
        route = f"{stored.method.upper()} {stored.parsed_uri.path.rstrip('/')}"
        parsed = getattr(stored, "parsed", None)
        base: RequestShape | None = None
        if isinstance(parsed, cassette_format.JsonBody):
            data = parsed.data
            name = history_field(data)
            shared = 0
            if parsed.extends is not None and name is not None:
                base = self._shapes[parsed.extends]
                if base.history is not None and base.history.field == name:
                    shared = base.history.count
            body = ParsedBody(data, field=name, shared=shared)
        else:
            body = self._recorded_parser.parse(stored.body, route)
            base = self._recorded_last.get(route)
        shape = self._shaper.shape(stored.method, stored.uri, body, self._recorded_ids, base)
        self._recorded_last[route] = shape
        return shape

    def _live_shape(self, request: Any) -> RequestShape | None:
        return self._shape_live(request)[0]

    def _shape_live(self, request: Any) -> tuple[RequestShape | None, IdCanonicaliser]:
        """The request's matching shape, and the live id map as it will be once the request is played.

        vcrpy asks about one request several times (``can_play_response_for``, then ``play_response``), so
        the last answer is kept until the live id map changes. The body is not scrubbed as a whole here:
        the shaper scrubs each part it has not seen before, so a resent history is not scanned again.
        """
        live = self._live_ids
        cached = self._shaped
        if cached is not None and cached[0] is request and cached[1] == len(live.seen):
            return cached[2], cached[3]
        # Filter a body-less copy: ignored hosts, secrets in the uri; the body is shaped from the original.
        filtered = self._before_record_request(vcr.request.Request(request.method, request.uri, b"", request.headers))
        # A request's ids count as seen only once it is played: shape against a fork of the live id map.
        probe = live.fork()
        shape: RequestShape | None = None
        if filtered:
            route = f"{filtered.method.upper()} {urlsplit(filtered.uri).path.rstrip('/')}"
            body = self._live_parser.parse(request.body if isinstance(request.body, bytes | str) else None, route)
            shape = self._shaper.shape(filtered.method, filtered.uri, body, probe, self._live_last.get(route))
            self._live_last[route] = shape
        self._shaped = (request, len(live.seen), shape, probe)
        return shape, probe

    def _next_index(self, request: Any) -> int | None:
        shape = self._live_shape(request)
        queue = self._index.get(shape.key) if shape else None
        return queue[0] if queue else None

    def __contains__(self, request: Any) -> bool:
        return self._next_index(request) is not None

    def can_play_response_for(self, request: Any) -> bool:
        return bool(
            self.record_mode != RecordMode.ALL
            and (self.rewound or self.allow_playback_repeats)
            and self._next_index(request) is not None
        )

    def play_response(self, request: Any) -> Any:
        shape, probe = self._shape_live(request)
        queue = self._index.get(shape.key) if shape else None
        if not queue:
            raise vcr.errors.UnhandledHTTPRequestError(f"The cassette ({self._path!r}) has no match for {request!r}")
        index = queue.popleft()
        # Played: the ids this request introduced are now seen.
        probe.commit()
        stored_request, response = self.data[index]
        self._live_ids.learn(response.get("body", {}).get("string", b""))
        if self.play_counts[index] == 0 and index < self._loaded_count:
            self._played_interactions.append((stored_request, response))
        self.play_counts[index] += 1
        if self._turns.get(id(stored_request)) is None:
            self._turns[id(stored_request)] = self.turn_source()
        return response

    def find_requests_with_most_matches(self, request: Any) -> list[Any]:
        # vcrpy calls this when it refuses a request; we explain the refusal ourselves, in order.
        shape = self._live_shape(request)
        unplayed = [i for i in range(len(self.data)) if self.play_counts[i] == 0]
        if shape is not None:
            same_route = [i for i in unplayed if self._shapes[i].path == shape.path]
            candidates = same_route or unplayed
            pick = candidates[0] if candidates else None
            self.last_no_match = NoMatch(
                shape=shape,
                closest=(pick + 1, self._shapes[pick]) if pick is not None else None,
                recorded=len(self.data),
                played=len(self.data) - len(unplayed),
                cassette_missing=not self.file_existed,
            )
        return []

    def _persist(self, cassette_dict: dict[str, Any]) -> None:
        turns = [self._turns.get(id(request)) for request in cassette_dict["requests"]]
        metadata: dict[str, Any] = getattr(self, "_metadata", None) or {}
        self._metadata = {**metadata, "convotest": {**self.header, "turns": turns}}
        super()._persist(cassette_dict)


@dataclass
class CassetteSession:
    """An open cassette for one run. Call ``keep()`` when the run succeeded to have it written."""

    path: Path
    record_mode: str
    cassette: Any
    kept: bool = False

    def keep(self) -> None:
        """Mark the run as finished well: the cassette is written (if anything new was recorded)."""
        self.kept = True

    @property
    def existed(self) -> bool:
        """Whether a cassette file was there when the run started."""
        return bool(self.cassette.file_existed)

    @property
    def interactions(self) -> int:
        """Interactions in the cassette (recorded ones included)."""
        return len(self.cassette.data)

    @property
    def all_played(self) -> bool:
        """Whether every loaded interaction was replayed."""
        return all(self.cassette.play_counts[i] > 0 for i in range(self.cassette._loaded_count))

    @property
    def recorded_new(self) -> bool:
        """Whether this run sent anything to a real server."""
        return bool(self.cassette.dirty)

    def no_match(self) -> NoMatch | None:
        """The explanation of the last refused request, if any."""
        found: NoMatch | None = self.cassette.last_no_match
        return found


def is_no_match(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) is vcrpy refusing an unrecorded request."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, vcr.errors.CannotOverwriteExistingCassetteException):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def open_cassette(
    path: Path,
    *,
    record_mode: str,
    scrubber: Scrubber,
    header: dict[str, Any],
    turn_source: Callable[[], int | None],
    volatile_fields: tuple[str, ...] = (),
    host_alias: tuple[str, str] | None = None,
) -> Iterator[CassetteSession]:
    """Patch HTTP for one run with the cassette at ``path``; write it atomically on ``keep()``.

    ``host_alias`` (netloc, name) rewrites a server's address in recorded URIs (matching ignores hosts).
    """
    if record_mode not in _VCR_MODES:
        raise ValueError(f"record mode must be one of {', '.join(RECORD_MODES)}, not {record_mode!r}")

    def before_request(request: Any) -> Any:
        request.uri = scrubber.uri(request.uri)
        if host_alias is not None:
            # The emulator listens on a random port: name it, so re-recording does not churn every uri.
            request.uri = request.uri.replace(f"//{host_alias[0]}/", f"//{host_alias[1]}/", 1)
        for name in list(request.headers):
            if name.lower() in scrubber.headers:
                del request.headers[name]
            elif isinstance(request.headers[name], str):
                request.headers[name] = scrubber.text(request.headers[name])
        # A body loaded from a cassette was scrubbed when it was recorded (and stays parsed until read).
        if getattr(request, "parsed", None) is None and request.body:
            request.body = scrubber.data(request.body)
        return request

    def before_response(response: dict[str, Any]) -> dict[str, Any]:
        response["headers"] = scrubber.header_map(response.get("headers", {}))
        body = response.get("body", {})
        if isinstance(body.get("string"), bytes):
            body["string"] = scrubber.data(body["string"])
        return response

    config = vcr.VCR(decode_compressed_response=True).get_merged_config(
        path=str(path),
        record_mode=_VCR_MODES[record_mode],
        before_record_request=before_request,
        before_record_response=before_response,
        persister=_AtomicPersister,
        record_on_exception=False,
        match_on=("method", "path"),
    )

    cls: Any = type(
        "ConvotestCassette",
        (_IndexedCassette,),
        {
            "volatile": volatile_fields,
            "scrub": staticmethod(scrubber.text),
            "header": header,
            "fresh": record_mode == "rewrite",
            "turn_source": staticmethod(turn_source),
        },
    )

    class _Discard(Exception):
        """Leaves the cassette context without saving (vcrpy saves on a clean exit)."""

    try:
        with cls.use(**config) as cassette:
            session = CassetteSession(path=path, record_mode=record_mode, cassette=cassette)
            yield session
            if not session.kept:
                raise _Discard
    except _Discard:
        pass
