"""The fast path of the CSV loader: one compiled pass over the file's bytes (numba).

It takes the plain shape of a FER2013 file: a label 0-6, 2,304 numbers of 1-3 digits separated by spaces, and
Kaggle's Usage word, each field optionally in double quotes, lines ending in LF or CRLF, blank lines skipped.
It never raises: at the first byte it does not expect it returns None, and ``load_csv`` reparses the file with
the exact slow parser, which names the file, the line and the problem. So the fast path only has to be right
about what it accepts, and everything it accepts the slow parser reads to the same arrays.

Why compiled: a vectorised numpy parser needs many passes over the whole file (masks, token starts and ends,
gathers of every number), while a compiled loop reads each byte once.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

PIXELS = 48 * 48
QUOTE, COMMA, SPACE, CR, LF, ZERO = 34, 44, 32, 13, 10, 48
THREADS = min(4, os.cpu_count() or 1)


@njit(cache=True, nogil=True)
def _digit(buf, i, n) -> int:
    """The digit at ``i`` (0-9), or -1 for any other byte or past the end."""
    if i >= n:
        return -1
    d = np.int64(buf[i]) - ZERO
    return d if 0 <= d <= 9 else -1


@njit(cache=True, nogil=True)
def _number(buf, pos):
    """(value, position after it) of the number at ``pos``, after any spaces; value -1 where there is none,
    it has 4 or more digits, or it is over 255.

    Reads up to 3 bytes past the line's end unchecked, which ``parse_rows`` makes safe, so this innermost loop
    checks no bounds. The number is read from its next 4 bytes without branching on its length: a branch per
    digit would mispredict on random 1-3 digit numbers."""
    while buf[pos] == SPACE:  # normally exactly one; split() semantics allow runs
        pos += 1
    d0 = np.int64(buf[pos]) - ZERO
    d1 = np.int64(buf[pos + 1]) - ZERO
    d2 = np.int64(buf[pos + 2]) - ZERO
    d3 = np.int64(buf[pos + 3]) - ZERO
    two = (0 <= d1) & (d1 <= 9)
    three = two & (0 <= d2) & (d2 <= 9)
    value = d0
    value = value * 10 + d1 if two else value
    value = value * 10 + d2 if three else value
    four = three & (0 <= d3) & (d3 <= 9)
    if (d0 < 0) | (d0 > 9) | four | (value > 255):
        value = -1
    return value, pos + 1 + two + three


@njit(cache=True, nogil=True)
def _pixels(buf, pos, out) -> int:
    """Parse 2,304 numbers from ``pos`` into ``out``; return the position after them (and any spaces), or -1."""
    for k in range(PIXELS):
        value, pos = _number(buf, pos)
        if value < 0:
            return -1
        out[k] = value
    while buf[pos] == SPACE:
        pos += 1
    return pos


@njit(cache=True, nogil=True)
def _word_at(buf, pos, n, word, length) -> bool:
    if pos + length > n:
        return False
    for k in range(length):
        if buf[pos + k] != word[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _closing_quote(buf, pos, n, quoted) -> int:
    """The position after the field's closing quote if it is quoted (-1 if the quote is missing), else ``pos``."""
    if not quoted:
        return pos
    return pos + 1 if pos < n and buf[pos] == QUOTE else -1


LABEL, PIXEL_FIELD, USAGE = 0, 1, 2  # the fields' codes in a row's ``order``


@njit(cache=True, nogil=True)
def _field(buf, pos, n, code, words, word_lengths, images, labels, usage, row) -> int:
    """Read one field, optionally in double quotes, of the row ``row``; return the position after it, or -1."""
    quoted = pos < n and buf[pos] == QUOTE
    pos += quoted
    if code == LABEL:
        label = _digit(buf, pos, n)
        if label < 0 or label > 6:
            return -1
        labels[row] = label
        pos += 1
    elif code == PIXEL_FIELD:
        pos = _pixels(buf, pos, images[row])
        if pos < 0:
            return -1
    else:
        found = -1
        for w in range(words.shape[0]):
            if _word_at(buf, pos, n, words[w], word_lengths[w]):
                found = w
                break
        if found < 0:
            return -1
        usage[row] = found
        pos += word_lengths[found]
    return _closing_quote(buf, pos, n, quoted)


@njit(cache=True, nogil=True)
def _parse_rows(buf, starts, order, words, word_lengths, images, labels, usage) -> bool:
    """Parse the rows that start at ``starts`` into the arrays' rows; False at anything unexpected. ``order``
    holds the fields' codes in the header's order; ``words`` the accepted Usage words, one per row (zero-padded).
    A row ends at its line's LF, and does: no accepted field holds one (a quoted line break fails)."""
    n = len(buf)
    for row in range(len(starts)):
        pos = starts[row]
        for f in range(len(order)):
            if f > 0:
                if pos >= n or buf[pos] != COMMA:
                    return False
                pos += 1
            pos = _field(buf, pos, n, order[f], words, word_lengths, images, labels, usage, row)
            if pos < 0:
                return False
        if pos < n and buf[pos] == CR:
            pos += 1
        if pos < n and buf[pos] != LF:
            return False
    return True


def parse_rows(buffer, start: int, usage_words: tuple[str, ...] | None, order: tuple[int, ...] | None = None):
    """Parse the data rows of ``buffer`` (bytes or an mmap) from byte ``start``, the line after the header.
    ``order``: the fields' codes (LABEL, PIXEL_FIELD, USAGE) in the file's column order; by default label, pixels
    and Usage where ``usage_words`` is given.

    Returns (images (N, 2304) uint8, labels (N,) int64, usage codes (N,) uint8 indexing ``usage_words``), or None
    where the slow parser must decide (a row this parser does not take, or no data rows)."""
    buf = np.frombuffer(buffer, np.uint8)
    starts = _row_starts(buffer, buf, start)
    if len(starts) == 0:
        return None
    images = np.empty((len(starts), PIXELS), np.uint8)
    labels = np.empty(len(starts), np.int64)
    usage = np.zeros(len(starts), np.uint8)
    names = [w.encode("ascii") for w in usage_words or ()]
    words = np.zeros((len(names), max(map(len, names), default=1)), np.uint8)
    for k, name in enumerate(names):
        words[k, :len(name)] = np.frombuffer(name, np.uint8)
    lengths = np.array([len(name) for name in names], np.int64)
    if order is None:
        order = (LABEL, PIXEL_FIELD, USAGE) if usage_words else (LABEL, PIXEL_FIELD)
    codes = np.array(order, np.int64)
    # Every row but the last has a line after it, so the unchecked reads 3 bytes past its end stay in the file.
    # The last row is parsed from a copy with line breaks after it.
    last = bytes(buffer[starts[-1]:])
    if len(last) < 4 or not _parse_rows(np.frombuffer(last + b"\n" * 4, np.uint8), np.zeros(1, np.int64), codes, words,
                                        lengths, images[-1:], labels[-1:], usage[-1:]):
        return None
    # The compiled loop releases the GIL, so threads parse blocks of rows side by side, each into its own rows.
    bounds = np.linspace(0, len(starts) - 1, THREADS + 1).astype(int)
    blocks = [slice(first, stop) for first, stop in zip(bounds[:-1], bounds[1:]) if stop > first]
    with ThreadPoolExecutor(max(1, len(blocks))) as pool:
        done = list(pool.map(lambda rows: _parse_rows(buf, starts[rows], codes, words, lengths, images[rows],
                                                      labels[rows],
                                                      usage[rows]), blocks))
    return (images, labels, usage) if all(done) else None


def _row_starts(buffer, buf: np.ndarray, start: int) -> np.ndarray:
    """Where each non-blank line starts (LF and CRLF blank lines are skipped, as the csv module does)."""
    line_starts = []
    position = start
    while position < len(buffer):  # bytes.find (memchr) finds line ends; the compiled loop only parses
        line_starts.append(position)
        position = buffer.find(b"\n", position) + 1 or len(buffer)
    starts = np.array(line_starts, np.int64)
    after = buf[np.minimum(starts + 1, len(buf) - 1)]
    blank = (buf[starts] == LF) | ((buf[starts] == CR) & (starts + 1 < len(buf)) & (after == LF))
    return starts[~blank]
