"""The CSV part of the bad-input catalogue, through the real command line in a subprocess.

Each bad file must end the build with exit code 2 and exactly one line on stderr, naming the file, the line and
what was expected, and leave the project folder (with a site already in it) exactly as it was.
"""
import numpy as np
import pytest

from conftest import pixel_string, run_cli, snapshot, write_rows
from generator.data.fer2013 import load_csv
from generator.errors import InputError

PIXELS = pixel_string(0).split()
GOOD = " ".join(PIXELS)
ROW_2303 = " ".join(PIXELS[:-1])
ROW_256 = " ".join(PIXELS[:4] + ["256"] + PIXELS[5:])   # pixel 5
ROW_MINUS_1 = " ".join(PIXELS[:-1] + ["-1"])            # pixel 2304, the last
ROW_WORD = " ".join(PIXELS[:9] + ["12a"] + PIXELS[10:])  # pixel 10
HEADER = "emotion,pixels,Usage"

# name, the file's bytes (None: no file), the line printed after "error: <file>"
CASES = [
    ("missing", None, ": data file not found"),
    ("empty", b"", ": the file is empty, expected a header 'emotion,pixels,Usage' or 'label,feature' (the columns in any order)"),
    ("wrong header", f"id,pixels,Usage\n0,{GOOD},Training\n".encode(),
     ":1: header 'id,pixels,Usage' is not 'emotion,pixels,Usage' or 'label,feature' (the columns in any order)"),
    ("2303 pixels", f"{HEADER}\n0,{GOOD},Training\n1,{ROW_2303},Training\n".encode(),
     ":3: expected 2304 space-separated pixels, found 2303"),
    ("pixel 256", f"{HEADER}\n0,{GOOD},Training\n1,{ROW_256},PublicTest\n".encode(),
     ":3: pixel 5 is 256, expected an integer 0-255"),
    ("pixel -1", f"{HEADER}\n2,{ROW_MINUS_1},Training\n".encode(), ":2: pixel 2304 is -1, expected an integer 0-255"),
    ("not a number", f"label,feature\n3,{GOOD}\n4,{GOOD}\n5,{ROW_WORD}\n".encode(),
     ":4: pixel 10 is '12a', expected an integer 0-255"),
    ("label 7", f"label,feature\n6,{GOOD}\n7,{GOOD}\n".encode(), ":3: label 7 is out of range, expected 0-6"),
]


@pytest.fixture
def project(tmp_path):
    """A project folder with default settings and a site built before: nothing in it may change."""
    (tmp_path / "pyproject.toml").write_text("[tool.generator]\n")
    (tmp_path / "site" / "figures").mkdir(parents=True)
    (tmp_path / "site" / "index.md").write_text("# The report built last time\n")
    (tmp_path / "site" / "figures" / "q1.png").write_bytes(b"\x89PNG not really")
    return tmp_path


def _build(project, csv, *flags):
    return run_cli(project, *flags, "build", "--config", str(project / "pyproject.toml"), "--data", str(csv),
                   "--out", str(project / "site"))


@pytest.mark.parametrize("name,content,message", CASES, ids=[case[0] for case in CASES])
def test_bad_csv_exits_2_with_one_line_and_changes_nothing(project, name, content, message):
    csv = project / "data.csv"
    if content is not None:
        csv.write_bytes(content)
    before = snapshot(project, folders=True)
    run = _build(project, csv)
    assert run.stderr.splitlines() == [f"error: {csv}{message}"]
    assert run.returncode == 2 and run.stdout == ""
    assert snapshot(project, folders=True) == before


def test_debug_shows_the_traceback(project):
    run = _build(project, project / "data.csv", "--debug")
    assert run.returncode == 1
    assert run.stderr.startswith("Traceback (most recent call last):")
    assert run.stderr.rstrip().endswith(f"generator.errors.InputError: {project / 'data.csv'}: data file not found")


# Files that stop the csv module or the UTF-8 decoder before any field is checked.
STRAY_QUOTE_ROWS = [f"0,{GOOD}", f'1,"{GOOD}', *[f"2,{GOOD}"] * 20]  # line 3 opens a field that never closes
UNREADABLE = [
    (f"label,feature\n0,{GOOD}\n1,{GOOD[:50]}\xff{GOOD[50:]}\n".encode("latin-1"),
     ":3: not UTF-8 text, expected a CSV saved as UTF-8"),
    ("\n".join(["label,feature", *STRAY_QUOTE_ROWS]).encode(),
     ":3: field larger than field limit (131072): a double quote is probably not closed"),
]


@pytest.mark.parametrize("content,message", UNREADABLE, ids=["latin-1 byte", "stray quote"])
def test_undecodable_files_name_the_line(tmp_path, content, message):
    (tmp_path / "data.csv").write_bytes(content)
    with pytest.raises(InputError) as error:
        load_csv(tmp_path / "data.csv")
    assert str(error.value) == f"{tmp_path / 'data.csv'}{message}"


@pytest.mark.parametrize("newline,bom", [("\r\n", False), ("\n", True), ("\r\n", True)], ids=["CRLF", "BOM", "both"])
def test_windows_line_endings_and_a_bom_load(tmp_path, newline, bom):
    rows = [f"{k},{pixel_string(k)},{usage}" for k, usage in enumerate(["Training", "PublicTest", "PrivateTest"])]
    data = load_csv(write_rows(tmp_path / "win.csv", HEADER, rows, newline=newline, bom=bom))
    expected = np.array([pixel_string(k).split() for k in range(3)], dtype=np.uint8).reshape(3, 48, 48)
    assert np.array_equal(data.images, expected)
    assert data.labels.tolist() == [0, 1, 2]
    assert data.usage.tolist() == ["Training", "PublicTest", "PrivateTest"]
