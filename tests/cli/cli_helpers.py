"""Helpers for the command-line tests: every command runs through its real entry point, in a subprocess.

Projects are copies of the shipped ``scenarios/`` (and ``cassettes/``, recorded from the emulator when the
checkout has none) in a temporary folder. The environment blocks the network: no API key, and proxies
pointing at a closed port for everything but the local emulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
CASSETTES = REPO / "cassettes"
#: A port nothing listens on: any request that tries to leave the machine fails at once.
_DEAD_PROXY = "http://127.0.0.1:9"


def offline_env(**extra: str) -> dict[str, str]:
    """The test environment: no key, no colour forcing, the network blocked except localhost."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_", "NO_COLOR", "FORCE_COLOR"))}
    env.update(
        HTTP_PROXY=_DEAD_PROXY,
        HTTPS_PROXY=_DEAD_PROXY,
        ALL_PROXY=_DEAD_PROXY,
        http_proxy=_DEAD_PROXY,
        https_proxy=_DEAD_PROXY,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m convotest.cli ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "convotest.cli", *args],
        cwd=cwd,
        env=env or offline_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_pytest(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` in ``cwd`` (no cache folder, no stray plugins' output)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env or offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def make_project(root: Path, names: Sequence[str] | None = None) -> Path:
    """A project in ``root`` with the shipped scenarios ``names`` (all by default) and their cassettes."""
    (root / "scenarios").mkdir(parents=True, exist_ok=True)
    files = sorted(SCENARIOS.glob("*.convo.yaml"))
    stems = [f.name.removesuffix(".convo.yaml") for f in files]
    for file, stem in zip(files, stems, strict=True):
        if names is None or stem in names:
            shutil.copy(file, root / "scenarios" / file.name)
            if (CASSETTES / stem).is_dir():
                shutil.copytree(CASSETTES / stem, root / "cassettes" / stem, dirs_exist_ok=True)
    # A checkout without recorded cassettes: record the missing ones from the emulator once.
    wanted = [s for s in stems if names is None or s in names]
    missing = [f"scenarios/{s}.convo.yaml" for s in wanted if not (root / "cassettes" / s).is_dir()]
    if missing:
        done = cli("record", *missing, "--emulator", "--", "-q", cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def run_in_terminal(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; everything it wrote, escapes included."""
    import pty
    import threading

    primary, secondary = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = dict(env or offline_env())
    env.setdefault("TERM", "xterm-256color")
    env.setdefault("COLUMNS", "120")
    try:
        subprocess.run(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, timeout=timeout
        )
    finally:
        os.close(secondary)
        reader.join(timeout=10)
        os.close(primary)
    return b"".join(chunks).decode("utf-8", "replace")


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG with the stdlib: (width, height, rows of RGB bytes)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0, "only 8-bit RGB(A), not interlaced"
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    # Byte-wise addition mod 256 of two whole rows at once: even and odd bytes in separate lanes.
    even = int.from_bytes(b"\x00\xff" * (stride // 2) + b"\x00" * (stride % 2), "big")
    odd = int.from_bytes(b"\xff" * stride, "big") ^ even
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            a, b = int.from_bytes(line, "big"), int.from_bytes(previous, "big")
            total = (((a & even) + (b & even)) & even) | (((a & odd) + (b & odd)) & odd)
            line = bytearray(total.to_bytes(stride, "big"))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + (left + previous[i]) // 2) & 0xFF
        elif kind == 4:
            for i in range(stride):
                up = previous[i]
                if i >= channels:
                    left, corner = line[i - channels], previous[i - channels]
                else:
                    left = corner = 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        previous = bytes(line)
        rows.append(previous)
    if channels == 4:
        rows = [bytes(b for i, b in enumerate(row) if i % 4 != 3) for row in rows]
    return width, height, rows


def count_colour(rows: list[bytes], hex_colour: str) -> int:
    """How many pixels (rows of RGB bytes) are exactly ``#rrggbb``."""
    want = bytes.fromhex(hex_colour.lstrip("#"))
    found = 0
    for row in rows:
        at = row.find(want)
        while at != -1:
            if at % 3 == 0:
                found += 1
            at = row.find(want, at + 1)
    return found
