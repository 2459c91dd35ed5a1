"""The fast path of the CSV loader: one compiled pass over the file's bytes (numba).

It takes the plain shape of a FER2013 file: a label 0-6, 2,304 numbers of 1-3 digits separated by spaces, and
Kaggle's Usage word, each field optionally in double quotes, lines ending in LF or CRLF, blank lines skipped.
It never raises: at the first byte it does not expect it returns None, and ``load_csv`` reparses the file with
the exact slow parser, which names the file, the line and the problem. So the fast path only has to be right
about what it accepts, and everything it accepts the slow parser reads to the same arrays.

Why compiled: vectorised numpy needs about 15 passes over the 282 MiB (masks, token starts and ends, gathers of
82 million numbers) and measured no faster than pandas here; a compiled loop reads each byte once.
"""
from __future__ import annotations

import numpy as np
from numba import njit

PIXELS = 48 * 48
# The shortest valid row: a label, a comma, 2,304 one-digit numbers and 2,303 spaces. It bounds the row count.
SHORTEST_ROW = 1 + 1 + PIXELS + (PIXELS - 1)
QUOTE, COMMA, SPACE, CR, LF, ZERO = 34, 44, 32, 13, 10, 48


@njit(cache=True, nogil=True)
def _digit(buf, i, n) -> int:
    """The digit at ``i`` (0-9), or -1 for any other byte or past the end."""
    if i >= n:
        return -1
    d = np.int64(buf[i]) - ZERO
    return d if 0 <= d <= 9 else -1


@njit(cache=True, nogil=True)
def _word_at(buf, pos, n, word, length) -> bool:
    if pos + length > n:
        return False
    for k in range(length):
        if buf[pos + k] != word[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _pixels(buf, pos, n, out) -> int:
    """Parse 2,304 numbers into ``out`` from ``pos``; return the position after them, or -1.

    Each number is read from its next 4 bytes without branching on its length: a branch per digit mispredicts
    on random 1-3 digit numbers and made the loop 30% slower."""
    for k in range(PIXELS):
        while pos < n and buf[pos] == SPACE:  # normally exactly one; split() semantics allow runs
            pos += 1
        if pos + 3 < n:
            d0 = np.int64(buf[pos]) - ZERO
            d1 = np.int64(buf[pos + 1]) - ZERO
            d2 = np.int64(buf[pos + 2]) - ZERO
            d3 = np.int64(buf[pos + 3]) - ZERO
        else:  # the file's last bytes
            d0, d1, d2, d3 = _digit(buf, pos, n), _digit(buf, pos + 1, n), _digit(buf, pos + 2, n), -1
        two = (0 <= d1) & (d1 <= 9)
        three = two & (0 <= d2) & (d2 <= 9)
        value = d0
        value = value * 10 + d1 if two else value
        value = value * 10 + d2 if three else value
        four = three & (0 <= d3) & (d3 <= 9)
        if (d0 < 0) | (d0 > 9) | four | (value > 255):  # not a number, 4+ digits, or over 255
            return -1
        out[k] = value
        pos += 1 + two + three
    while pos < n and buf[pos] == SPACE:
        pos += 1
    return pos


@njit(cache=True, nogil=True)
def _parse_rows(buf, pos, words, word_lengths, images, labels, usage) -> int:
    """Parse data rows from ``pos`` to the end; return the row count, or -1 at anything unexpected.

    ``words`` holds the accepted Usage words, one per row (zero-padded); with no rows the file has no Usage."""
    n = len(buf)
    with_usage = words.shape[0] > 0
    row = 0
    while pos < n:
        if buf[pos] == LF:
            pos += 1
            continue
        if buf[pos] == CR and pos + 1 < n and buf[pos + 1] == LF:
            pos += 2
            continue
        if row >= len(labels):
            return -1
        quoted = buf[pos] == QUOTE
        pos += quoted
        label = _digit(buf, pos, n)
        if label < 0 or label > 6:
            return -1
        labels[row] = label
        pos += 1
        if quoted:
            if pos >= n or buf[pos] != QUOTE:
                return -1
            pos += 1
        if pos >= n or buf[pos] != COMMA:
            return -1
        pos += 1
        quoted = pos < n and buf[pos] == QUOTE
        pos = _pixels(buf, pos + quoted, n, images[row])
        if pos < 0:
            return -1
        if quoted:
            if pos >= n or buf[pos] != QUOTE:
                return -1
            pos += 1
        if with_usage:
            if pos >= n or buf[pos] != COMMA:
                return -1
            pos += 1
            quoted = pos < n and buf[pos] == QUOTE
            pos += quoted
            found = -1
            for w in range(words.shape[0]):
                if _word_at(buf, pos, n, words[w], word_lengths[w]):
                    found = w
                    break
            if found < 0:
                return -1
            usage[row] = found
            pos += word_lengths[found]
            if quoted:
                if pos >= n or buf[pos] != QUOTE:
                    return -1
                pos += 1
        if pos < n and buf[pos] == CR:
            pos += 1
            if pos >= n or buf[pos] != LF:
                return -1
        if pos < n:
            if buf[pos] != LF:
                return -1
            pos += 1
        row += 1
    return row


def parse_rows(data: bytes, start: int, usage_words: tuple[str, ...] | None):
    """Parse the data rows of ``data`` from byte ``start`` (the line after the header).

    Returns (images (N, 2304) uint8, labels (N,) int64, usage codes (N,) uint8 indexing ``usage_words``), or None
    where the slow parser must decide (a row this parser does not take, or no data rows)."""
    buf = np.frombuffer(data, np.uint8)
    capacity = (len(data) - start) // SHORTEST_ROW + 1
    images = np.empty((capacity, PIXELS), np.uint8)  # pages past the last row are never touched, so cost nothing
    labels = np.empty(capacity, np.int64)
    usage = np.zeros(capacity, np.uint8)
    names = [w.encode("ascii") for w in usage_words or ()]
    words = np.zeros((len(names), max(map(len, names), default=1)), np.uint8)
    for k, name in enumerate(names):
        words[k, :len(name)] = np.frombuffer(name, np.uint8)
    lengths = np.array([len(name) for name in names], np.int64)
    rows = _parse_rows(buf, start, words, lengths, images, labels, usage)
    if rows <= 0:
        return None
    for array in (images, labels, usage):  # shrink in place (realloc), no copy: only this function holds them
        array.resize((rows, *array.shape[1:]), refcheck=False)
    return images, labels, usage
