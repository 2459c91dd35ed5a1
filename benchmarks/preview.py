"""The live preview's delay, from saving a prose file to the served page showing it.

    python benchmarks/preview.py [PROJECT] [--edits 5]

PROJECT (default: this checkout) must hold mkdocs.yml, templates/ and a full build (`python -m generator build`).
The script starts `mkdocs serve` there on a free loopback port, then for each edit appends a unique sentence to
templates/prose/q1.en.md, polls en/q1.html every 50 ms until the sentence shows, and puts the file back. It prints
each delay, their median, and the load average, since the machine may be shared; and the CPU time the server
spent on each edit, which a busy machine does not inflate.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _page(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except OSError:
        return ""


def _until(condition, seconds: float) -> float | None:
    """Seconds until ``condition()`` holds, polled every 50 ms; None after ``seconds``."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if condition():
            return time.perf_counter() - start
        time.sleep(0.05)
    return None


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_idle(pid: int, seconds: float = 120) -> None:
    """Until the server spends under 5% of a core over a second: no rebuild (such as the one site_src's own
    change triggers) is running when the next edit is saved."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        before = _cpu_seconds(pid)
        time.sleep(1)
        if _cpu_seconds(pid) - before < 0.05:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", nargs="?", default=str(ROOT))
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    project = Path(args.project).resolve()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/en/q1.html"
    log = tempfile.TemporaryFile("w+")  # the server's output: not a file left in the user's project
    server = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"], cwd=project,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                              env=dict(os.environ, PYTHONPATH=str(ROOT), NO_MKDOCS_2_WARNING="1",
                                       SITE_URL=f"http://127.0.0.1:{port}/"))
    prose = project / "templates" / "prose" / "q1.en.md"
    original = prose.read_bytes()
    delays, cpus = [], []
    try:
        if _until(lambda: _page(url), 300) is None:
            log.seek(0)
            sys.exit(f"mkdocs serve did not serve {url} in 300 s; it said:\n{log.read()[-4000:]}")
        for _ in range(args.edits):
            _wait_idle(server.pid)
            sentence = f"Benchmark sentence {uuid.uuid4().hex}."
            cpu = _cpu_seconds(server.pid)
            prose.write_bytes(original + f"\n{sentence}\n".encode())
            delay = _until(lambda: sentence in _page(url), 60)
            cpu = _cpu_seconds(server.pid) - cpu
            prose.write_bytes(original)
            print(f"  {'not shown in 60 s' if delay is None else f'{delay:.2f} s'}, the server's CPU {cpu:.2f} s",
                  flush=True)
            if delay is not None:
                delays.append(delay)
                cpus.append(cpu)
            _until(lambda: sentence not in _page(url), 60)
    finally:
        prose.write_bytes(original)
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    if delays:
        print(f"save to page: median {statistics.median(delays):.2f} s over {len(delays)} edits "
              f"(min {min(delays):.2f}, max {max(delays):.2f}); load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores; the server's CPU time per edit: median {statistics.median(cpus):.2f} s")


if __name__ == "__main__":
    main()
