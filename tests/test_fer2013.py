import numpy as np
import pytest

from conftest import pixel_string, write_rows
from generator.data.fer2013 import _load_exactly, _load_fast, load_csv, training_indices, validation_indices, write_csv
from generator.errors import InputError


def test_kaggle_format_parsed(kaggle_csv):
    data = load_csv(kaggle_csv)
    assert data.images.shape == (5, 48, 48) and data.images.dtype == np.uint8
    assert data.labels.tolist() == [0, 1, 2, 3, 4]
    assert data.usage.tolist() == ["Training", "Training", "PublicTest", "PrivateTest", "PublicTest"]
    expected = np.array(pixel_string(3).split(), dtype=np.uint8).reshape(48, 48)
    assert np.array_equal(data.images[3], expected)


def test_course_format_parsed(course_csv):
    data = load_csv(course_csv)
    assert data.images.shape == (21, 48, 48)
    assert data.labels.tolist() == [k % 7 for k in range(21)]
    assert np.array_equal(data.images[20].ravel(), np.array(pixel_string(20).split(), dtype=np.uint8))


def test_windows_line_endings_and_bom_load(tmp_path):
    path = write_rows(tmp_path / "win.csv", "label,feature", [f"3,{pixel_string(1)}"], newline="\r\n", bom=True)
    data = load_csv(path)
    assert data.labels.tolist() == [3]
    assert np.array_equal(data.images[0].ravel(), np.array(pixel_string(1).split(), dtype=np.uint8))


def test_written_csv_reads_back(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    labels = np.array([6, 0, 3, 2])
    write_csv(tmp_path / "k.csv", images, labels, ["Training", "PublicTest", "Training", "PrivateTest"])
    write_csv(tmp_path / "c.csv", images, labels)
    for name in ("k.csv", "c.csv"):
        data = load_csv(tmp_path / name)
        assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)


GOOD = pixel_string(0)
BAD_ROWS = [
    ("emotion,pixels,Usage", [f"0,{GOOD},Training", f"1,{' '.join(GOOD.split()[:-1])},Training"], ":3: expected 2304 space-separated pixels, found 2303"),
    ("emotion,pixels,Usage", [f"0,{GOOD} 7,Training"], ":2: expected 2304 space-separated pixels, found 2305"),
    ("label,feature", [f"0,{GOOD}", f"0,{GOOD}", f"2,{GOOD.replace(GOOD.split()[0], '256', 1)}"], ":4: pixel 1 is 256, expected an integer 0-255"),
    ("label,feature", [f"2,-1 {' '.join(GOOD.split()[1:])}"], ":2: pixel 1 is -1, expected an integer 0-255"),
    ("label,feature", [f"2,abc {' '.join(GOOD.split()[1:])}"], ":2: pixel 1 is 'abc', expected an integer 0-255"),
    ("label,feature", [f"2,1.5 {' '.join(GOOD.split()[1:])}"], ":2: pixel 1 is '1.5', expected an integer 0-255"),
    ("label,feature", [f"0,{GOOD}", f"7,{GOOD}"], ":3: label 7 is out of range, expected 0-6"),
    ("label,feature", [f"happy,{GOOD}"], ":2: label 'happy' is not an integer 0-6"),
    ("emotion,pixels,Usage", [f"0,{GOOD},Train"], ":2: Usage 'Train' is not one of Training, PublicTest, PrivateTest"),
    ("emotion,pixels,Usage", [f"0,{GOOD}"], ":2: expected 3 fields (emotion,pixels,Usage), found 2"),
    ("id,pixels", [f"0,{GOOD}"], ":1: header 'id,pixels' is not 'emotion,pixels,Usage' or 'label,feature' (the columns in any order)"),
    ("label,feature", [], ": no data rows after the header"),
]


@pytest.mark.parametrize("header,rows,message", BAD_ROWS)
def test_malformed_rows_rejected_with_line_number(tmp_path, header, rows, message):
    path = write_rows(tmp_path / "bad.csv", header, rows)
    with pytest.raises(InputError) as error:
        load_csv(path)
    assert str(error.value) == f"{path}{message}"


def test_line_numbers_count_physical_lines_and_huge_values_do_not_wrap(tmp_path):
    pixels = GOOD.split()
    multi_line = '"' + " ".join(pixels[:1000]) + "\n" + " ".join(pixels[1000:]) + '"'  # a quoted field over 2 lines
    path = write_rows(tmp_path / "m.csv", "label,feature", [f"0,{multi_line}", f"9,{GOOD}"])
    with pytest.raises(InputError, match=r"m.csv:4: label 9 is out of range"):
        load_csv(path)
    path = write_rows(tmp_path / "h.csv", "label,feature", [f"0,4294967303 {' '.join(pixels[1:])}"])
    with pytest.raises(InputError, match=r"h.csv:2: pixel 1 is 4294967303, expected an integer 0-255"):
        load_csv(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="data file not found"):
        load_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty.csv: the file is empty"):
        load_csv(tmp_path / "empty.csv")


def test_validation_is_public_test_when_present(kaggle_csv):
    data = load_csv(kaggle_csv)
    assert validation_indices(data, 0.5, seed=0).tolist() == [2, 4]
    assert training_indices(data, 0.5, seed=0).tolist() == [0, 1]  # PrivateTest stays out of training


def test_stratified_holdout_is_seeded(course_csv):
    data = load_csv(course_csv)  # 3 rows of each class
    a, b, c = (validation_indices(data, 1 / 3, seed=s) for s in (0, 0, 1))
    assert np.array_equal(a, b)
    assert sorted(np.bincount(data.labels[a], minlength=7).tolist()) == [1] * 7
    assert not np.array_equal(a, c) or len(a) == 0
    assert set(a).isdisjoint(training_indices(data, 1 / 3, seed=0))


# The fast path must read every plain file to exactly what the exact parser gives, and hand anything else to it.
PLAIN_FILES = [
    ("emotion,pixels,Usage", [f"0,{GOOD},Training", f"6,{pixel_string(1)},PrivateTest"], "\n", False),
    ("emotion,pixels,Usage", [f'"3","{GOOD}","PublicTest"'], "\r\n", True),  # every field quoted, CRLF, BOM
    ("emotion,pixels", [f"5,{GOOD}", "", f"1,{GOOD}", ""], "\n", False),  # Kaggle without Usage, blank lines
    ("label,feature", [f"2, {GOOD.replace(' ', '  ')} ", f"4,{'007 ' * 2303}0"], "\n", False),  # runs of spaces
    ("label,feature", [f"2,{GOOD}", f"0,{pixel_string(2)}"], "", False),  # no newline after the last row
]


@pytest.mark.parametrize("header,rows,newline,bom", PLAIN_FILES)
def test_fast_path_reads_plain_files_as_the_exact_parser_does(tmp_path, header, rows, newline, bom):
    path = write_rows(tmp_path / "plain.csv", header, rows, newline="\n" if newline == "" else newline, bom=bom)
    if newline == "":
        path.write_bytes(path.read_bytes().rstrip(b"\n"))
    fast, exact = _load_fast(path), _load_exactly(path)
    assert fast is not None, "the fast path handed a plain file to the slow parser"
    assert np.array_equal(fast.images, exact.images) and fast.images.dtype == np.uint8
    assert np.array_equal(fast.labels, exact.labels) and fast.labels.dtype == exact.labels.dtype
    assert fast.usage.tolist() == exact.usage.tolist() and fast.usage.dtype == exact.usage.dtype


@pytest.mark.parametrize("header,rows,message", BAD_ROWS)
def test_fast_path_hands_every_malformed_file_to_the_exact_parser(tmp_path, header, rows, message):
    assert _load_fast(write_rows(tmp_path / "bad.csv", header, rows)) is None


def test_fast_path_hands_over_quoted_line_breaks_and_4_digit_pixels(tmp_path):
    pixels = GOOD.split()
    multi_line = '"' + " ".join(pixels[:1000]) + "\n" + " ".join(pixels[1000:]) + '"'
    path = write_rows(tmp_path / "m.csv", "label,feature", [f"0,{multi_line}"])
    assert _load_fast(path) is None and _load_exactly(path).images.shape == (1, 48, 48)
    path = write_rows(tmp_path / "z.csv", "label,feature", [f"0,0255 {' '.join(pixels[1:])}"])
    assert _load_fast(path) is None and load_csv(path).images[0, 0, 0] == 255  # int("0255") is 255 for both


HEADER_ORDERS = [("emotion", "pixels", "Usage"), ("emotion", "Usage", "pixels"), ("pixels", "emotion", "Usage"),
                 ("pixels", "Usage", "emotion"), ("Usage", "emotion", "pixels"), ("Usage", "pixels", "emotion"),
                 ("pixels", "emotion"), ("feature", "label")]


@pytest.mark.parametrize("names", HEADER_ORDERS, ids=[",".join(n) for n in HEADER_ORDERS])
@pytest.mark.parametrize("spaces", ["", " "], ids=["tight", "spaced"])
def test_the_columns_load_in_any_order_with_spaces_around_the_names(tmp_path, names, spaces):
    """icml_face_data.csv's ``emotion, Usage, pixels`` among them; fast and exact parsers agree, and both give
    the rows' own values."""
    usages = ["Training", "PublicTest", "PrivateTest"]
    fields = {"emotion": lambda k: str(k + 2), "label": lambda k: str(k + 2), "Usage": lambda k: usages[k],
              "pixels": pixel_string, "feature": pixel_string}
    header = ("," + spaces).join(names)
    path = write_rows(tmp_path / "any.csv", header, [",".join(fields[n](k) for n in names) for k in range(3)])
    fast, exact = _load_fast(path), _load_exactly(path)
    assert fast is not None, "the fast path handed a plain file to the slow parser"
    expected = np.array([pixel_string(k).split() for k in range(3)], dtype=np.uint8).reshape(3, 48, 48)
    for data in (fast, exact):
        assert np.array_equal(data.images, expected) and data.labels.tolist() == [2, 3, 4]
        assert data.usage.tolist() == (usages if "Usage" in names else ["", "", ""])
    assert fast.usage.dtype == exact.usage.dtype


def test_row_errors_still_name_the_line_in_a_reordered_file(tmp_path):
    path = write_rows(tmp_path / "icml.csv", "emotion, Usage, pixels",
                      [f"0,Training,{GOOD}", f"1,PublicTest,{GOOD}", f"9,Training,{GOOD}"])
    with pytest.raises(InputError) as error:
        load_csv(path)
    assert str(error.value) == f"{path}:4: label 9 is out of range, expected 0-6"
    path = write_rows(tmp_path / "icml2.csv", " emotion , Usage , pixels ", [f"0,Testing,{GOOD}"])
    with pytest.raises(InputError) as error:
        load_csv(path)
    assert str(error.value) == f"{path}:2: Usage 'Testing' is not one of Training, PublicTest, PrivateTest"
