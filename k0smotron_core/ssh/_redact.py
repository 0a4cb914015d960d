"""Secret redaction and bounded command output."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import AnyStr

REDACTED = "[REDACTED]"
_MIN_LINE = 8


def _needles(secrets: Iterable[str]) -> tuple[str, ...]:
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        found.add(secret)
        # A multi-line secret (a PEM key, a kubeconfig) often reaches output re-wrapped or in part, so its
        # distinctive lines are secrets too; short lines ("-----", "}") would redact half of any output.
        if "\n" in secret or "\r" in secret:
            found.update(line.strip() for line in secret.splitlines() if len(line.strip()) > _MIN_LINE)
    # Longest first so a secret that contains another is replaced as a whole.
    return tuple(sorted(found, key=len, reverse=True))


def _spans(text: AnyStr, needles: Sequence[AnyStr]) -> list[tuple[int, int]]:
    """The merged [start, end) ranges of `text` covered by any occurrence of any needle."""
    found: list[tuple[int, int]] = []
    for needle in needles:
        start = text.find(needle)
        while start >= 0:
            found.append((start, start + len(needle)))
            # Step by one, not by len(needle): overlapping occurrences ("aa" in "aaa") must all be covered.
            start = text.find(needle, start + 1)
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Replaces a fixed set of secrets; built once per session so the needles are computed once."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._needles = _needles(secrets)
        self._byte_needles = tuple(needle.encode() for needle in self._needles)

    @property
    def lookbehind(self) -> int:
        """How many bytes before a cut a secret reaching past the cut can start."""
        return max((len(needle) for needle in self._byte_needles), default=0)

    def __call__(self, text: str) -> str:
        pieces: list[str] = []
        position = 0
        for start, end in _spans(text, self._needles):
            pieces += (text[position:start], REDACTED)
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def render_tail(self, data: bytes, skip: int) -> str:
        """Decode and redact `data[skip:]`, seeing secrets that begin in `data[:skip]` but reach past `skip`.

        Redacting only the kept tail would let the end of a secret that was cut in half through; redacting the
        whole buffer and then cutting would let the start of one through. So secrets are found in the whole
        buffer and the kept part is rendered with every span that reaches into it replaced.
        """
        pieces: list[str] = []
        position = skip
        for start, end in _spans(data, self._byte_needles):
            if end <= skip:
                continue
            pieces += (data[position:max(start, position)].decode(errors="replace"), REDACTED)
            position = max(position, end)
        pieces.append(data[position:].decode(errors="replace"))
        return "".join(pieces)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret, and of each line longer than 8 characters of a multi-line
    secret, with `[REDACTED]`."""
    return Redactor(secrets)(text)


class OutputTail:
    """Keeps the last `limit` bytes of a stream, plus enough before them to recognise a secret cut by the limit."""

    def __init__(self, limit: int, redactor: Redactor) -> None:
        self._limit = limit
        self._redactor = redactor
        self._capacity = limit + redactor.lookbehind
        self._buffer = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._buffer += chunk
        if len(self._buffer) > self._capacity:
            del self._buffer[: len(self._buffer) - self._capacity]

    def text(self) -> str:
        data = bytes(self._buffer)
        if self.total <= self._limit:
            return self._redactor.render_tail(data, 0)
        truncated = self.total - self._limit
        return f"[... {truncated} bytes truncated]\n" + self._redactor.render_tail(data, len(data) - self._limit)
