"""Image folders as data (generator/data/folders.py): a tree written from the synthetic faces in the forms students'
copies take (tests/folder_tree.py) loads to the faces of its files, and builds the same report as a CSV of the same
decoded images, with each face named by its path."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import QUICK, ROOT, quick_tables, snapshot, write_project
from folder_tree import reference_faces, write_tree
from generator.build import build
from generator.config import load_settings
from generator.data import synth
from generator.data.fer2013 import write_csv
from generator.data.folders import folder_sha256, load_folder
from generator.data.spellings import class_of
from generator.errors import InputError
from generator.inputs import load_data
from generator.preflight import fixed_rows
from generator.site.render import page_files
from generator.store import Store


@pytest.mark.parametrize("name,label", [
    ("angry", 0), ("Angry", 0), ("ANGER", 0), ("disgust", 1), ("Fear", 2), ("happy", 3), ("happiness", 3),
    ("Sadness", 4), ("sad", 4), ("surprise", 5), ("Surprised", 5), ("neutral", 6), ("contempt", None),
    ("Contempt", None)])
def test_class_folder_names_match_without_case(name, label):
    assert class_of(name, {}) == label


def test_class_folders_maps_unusual_names_and_unknown_names_fail():
    assert class_of("Surprirse", {"surprirse": "Surprise"}) == 5
    assert class_of("FEARFULL", {"fearfull": "fear"}) == 2
    with pytest.raises(KeyError):
        class_of("Surprirse", {})
    with pytest.raises(KeyError):
        class_of("4", {})  # never by position


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("tree") / "fer2013")


def test_the_loader_gives_each_file_s_face_in_sorted_path_order(tree):
    loaded = load_folder(tree)
    paths, faces, labels, usage = reference_faces(tree)
    assert loaded.names.tolist() == paths == sorted(paths)
    assert np.array_equal(loaded.dataset.images, faces)
    assert loaded.dataset.labels.tolist() == labels.tolist() and loaded.dataset.usage.tolist() == usage
    assert loaded.left_out == {"contempt": 3}
    # 96x96 PNGs and 64x64 JPEGs (2 of every 5 forms) were resized; a lossless form gives the original face back
    assert loaded.resized == 28
    originals, _, _ = synth.render_dataset(5, range(70))
    for k, name in enumerate(paths):
        index = int(name.rsplit("_", 1)[1].split(".")[0])
        if name.endswith(".png"):  # gray, RGB and 2x pixel-repeated PNGs
            assert np.array_equal(loaded.dataset.images[k], originals[index]), name
    assert loaded.sha256 == folder_sha256(tree)


def test_the_content_hash_follows_the_bytes_and_the_paths(tmp_path):
    root = write_tree(tmp_path / "t", count=20, contempt=1)
    before = folder_sha256(root)
    image = next(root.glob("train/*/*.png"))
    pixels = np.asarray(Image.open(image).convert("L")).copy()
    pixels[0, 0] ^= 1
    Image.fromarray(pixels).save(image)
    changed = folder_sha256(root)
    assert changed != before and load_folder(root).sha256 == changed
    image.rename(image.with_name("renamed.png"))
    assert folder_sha256(root) not in (before, changed)
    (root / "train" / "contempt" / "Training_c0.png").unlink()  # a left-out image counts too
    assert load_folder(root).sha256 == folder_sha256(root)


def _project(folder, *lines, data=('folder = "fer2013"',)):
    folder.mkdir(parents=True, exist_ok=True)
    return write_project(folder, data=[*data, *lines], **quick_tables(QUICK))


def _errors(root):
    with pytest.raises(InputError) as error:
        load_folder(root)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_layout_errors_name_the_folder_and_what_was_expected(tmp_path):
    root = write_tree(tmp_path / "a", count=20, contempt=0)
    (root / "train" / "Surprirse").mkdir()
    assert _errors(root) == (
        f"{root / 'train' / 'Surprirse'}: class folder 'Surprirse' matches no class, expected one of angry, anger, "
        "disgust, disgusted, fear, fearful, scared, happy, happiness, sad, sadness, surprise, surprised, neutral "
        "(any case), or contempt (left out); map other names with data.class_folders, e.g. "
        'class_folders = { "Surprirse" = "surprise" }')
    assert load_folder(root, {"Surprirse": "surprise"}).dataset.labels.size == 20  # an empty class folder is fine

    root = write_tree(tmp_path / "b", count=20, contempt=0)
    (root / "test").rename(root / "holdout")
    assert _errors(root) == (f"{root / 'holdout'}: folder 'holdout' is not a split, expected one of train, test, val, "
                             "validation, Training, PublicTest, PrivateTest (any case)")
    (root / "holdout").rename(root / "PrivateTest")
    assert _errors(root) == (f"{root}: no validation split (found PrivateTest/, train/), expected a test/, val/, "
                             "validation/ or PublicTest/ folder beside train/, holding one folder per class")

    root = write_tree(tmp_path / "c", count=20, contempt=0) / "train"  # the class folders directly
    assert _errors(root).startswith(f"{root}: holds the class folder ANGRY/ directly, expected split folders")

    root = write_tree(tmp_path / "d", count=20, contempt=0)
    bad = next(root.glob("test/*")) / "PublicTest_broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    assert _errors(root).startswith(f"{bad}: ")
    bad.write_text("a note\n")
    assert _errors(root) == f"{bad}: not an image Pillow can read, expected an image file (PNG, JPEG, BMP, ...)"


def test_hidden_files_are_skipped_and_the_validation_split_may_be_val(tmp_path):
    root = write_tree(tmp_path / "t", count=20, contempt=0)
    (root / "test").rename(root / "Validation")
    (root / ".DS_Store").write_bytes(b"\0\1")
    (root / "train" / "happy" / ".ipynb_checkpoints").mkdir(parents=True, exist_ok=True)
    (root / "train" / "happy" / ".ipynb_checkpoints" / "x.txt").write_text("x")
    loaded = load_folder(root)
    assert len(loaded.names) == 20 and all(n.startswith(("Validation/", "train/")) for n in loaded.names)
    assert (loaded.dataset.usage == "PublicTest").sum() == sum(n.startswith("Validation/") for n in loaded.names)


def test_a_path_names_a_face_in_images_indices(tmp_path, tree):
    project = _project(tmp_path)
    (project / "fer2013").symlink_to(tree, target_is_directory=True)
    chosen = load_folder(tree).names[[3, 1, 4, 15, 9, 26, 5]].tolist()
    settings = load_settings(project / "pyproject.toml", {"images.indices": chosen})
    data = load_data(settings)
    names = data.names.tolist()
    assert fixed_rows(settings, data) == [3, 1, 4, 15, 9, 26, 5] == [names.index(p) for p in chosen]
    mixed = load_settings(project / "pyproject.toml", {"images.indices": [chosen[0].replace("/", "\\"), *range(6)]})
    assert fixed_rows(mixed, data) == [3, 0, 1, 2, 3, 4, 5]  # a Windows path, and row numbers, work too
    bad = load_settings(project / "pyproject.toml", {"images.indices": ["test/happy/nope.jpg", *range(6)]})
    with pytest.raises(InputError, match=r"'test/happy/nope.jpg' \(class 0\) is not an image of fer2013, expected a path"):
        fixed_rows(bad, data)
    csv = load_settings(project / "pyproject.toml", {"images.indices": ["a.jpg", *range(6)], "data.folder": "",
                                                      "data.csv": "faces.csv"})
    with pytest.raises(InputError, match=r"'a.jpg' \(class 0\) is a file name, but faces.csv has numbered rows"):
        fixed_rows(csv, load_data(csv))


def _without_files(value, found: list):
    """``value`` without the faces' "file" entries, each of which goes into ``found`` as (row, file)."""
    if isinstance(value, dict):
        if "file" in value and "row" in value:
            found.append((value["row"], value["file"]))
        return {k: _without_files(v, found) for k, v in value.items() if not (k == "file" and "row" in value)}
    if isinstance(value, (list, tuple)):
        return type(value)(_without_files(v, found) for v in value)
    return value


def test_a_folder_builds_the_report_of_a_csv_of_the_same_images(tmp_path, tree):
    """Same faces, same predictions, same figures; the folder's pages name each face by its path."""
    paths, faces, labels, usage = reference_faces(tree)
    folder_project, csv_project = _project(tmp_path / "folder"), _project(tmp_path / "csv", data=['csv = "same.csv"'])
    (folder_project / "fer2013").symlink_to(tree, target_is_directory=True)
    write_csv(csv_project / "same.csv", faces, labels, usage)
    results = {}
    for name, project in (("folder", folder_project), ("csv", csv_project)):
        results[name] = build(load_settings(project / "pyproject.toml"), ROOT / "templates")
    folder_site, csv_site = snapshot(folder_project / "site_src"), snapshot(csv_project / "site_src")
    figures = sorted(p for p in folder_site if p.endswith(".png"))
    assert figures == sorted(p for p in csv_site if p.endswith(".png")) and len(figures) > 30
    for figure in figures:
        assert folder_site[figure][0] == csv_site[figure][0], figure
    folder_record = Store(folder_project, folder_project / "site_src").record().context
    csv_record = Store(csv_project, csv_project / "site_src").record().context
    for question in ("q1", "q3", "q4"):  # every number; the faces named by their paths, not their rows
        named, unnamed = [], []
        ours, theirs = _without_files(folder_record[question], named), _without_files(csv_record[question], unnamed)
        assert repr(ours) == repr(theirs), question  # repr: NaN (a class without faces) equals itself
        assert named and all(file == paths[row] for row, file in named), question
        assert len(unnamed) == len(named) and all(file is None for _, file in unnamed)
    for ours, theirs in zip(folder_record["imageset"]["faces"], csv_record["imageset"]["faces"]):
        assert ours["row"] == theirs["row"] and ours["probability"] == theirs["probability"]
        assert ours["file"] == paths[ours["row"]] and theirs["file"] is None
    home = (folder_project / "site_src" / "index.en.md").read_text()
    for item in folder_record["imageset"]["faces"]:
        assert f"| `{item['file']}` | {item['probability']:.2f} |" in home
    assert "| Class | Face | File | P(class) |" in home and "image folder `fer2013`: 70 images" in home
    assert "28 were not 48x48 gray" in home and "3 images of `contempt/` were left out" in home
    assert "Demo report" not in home
    zh = (folder_project / "site_src" / "index.md").read_text()
    assert "| 類別 | 臉 | 檔案 | P(類別) |" in zh and "`contempt/` 的 3 張影像不屬於 7 個類別" in zh
    first = folder_record["imageset"]["faces"][0]["file"]
    assert f"The data has no image 6987 (setting `filters.image_row`), so the face is the first one of the image set, `{first}`." in (
        folder_project / "site_src" / "q2.en.md").read_text()
    assert f"因此使用影像集的第一張臉，影像 `{first}`。" in (folder_project / "site_src" / "q2.md").read_text()
    assert "rows, of which" in (csv_project / "site_src" / "index.en.md").read_text()
    q1 = next(item for item in folder_record["q1"]["per_class"] if item["row"] == folder_record["imageset"]["faces"][0]["row"])
    assert f"<figcaption>{q1['file']}, P(" in (folder_project / "site_src" / "q1.en.md").read_text()
    assert f"<figcaption>影像 {q1['file']}，P(" in (folder_project / "site_src" / "q1.md").read_text()


DEMO_NOTES = {  # (model bundled, data synthetic) -> the line each language's note starts with
    (True, True): ("    This report was built from the bundled synthetic faces and the bundled demo CNN",
                   "    尚未設定模型與資料，因此本報告使用內附的合成人臉與示範 CNN 產生。"),
    (True, False): ("    The model is the bundled demo CNN, because no model was configured; the data is yours.",
                    "    尚未設定模型，因此模型是內附的示範 CNN；資料是你的。"),
    (False, True): ("    The data is the bundled synthetic faces, because no data was configured; the model is yours.",
                    "    尚未設定資料，因此資料是內附的合成人臉；模型是你的。"),
}


def test_the_demo_note_says_which_part_is_the_demo_s(tiny_project):
    """The page context of one real build, with the model or the data marked as the bundled one."""
    settings = load_settings(tiny_project / "pyproject.toml")
    build(settings, ROOT / "templates")
    record = Store(tiny_project, tiny_project / "site_src").record()
    for bundled, synthetic in [(True, True), (True, False), (False, True), (False, False)]:
        context = {**record.context, "model": {**record.context["model"], "bundled": bundled},
                   "data": {**record.context["data"], "kind": "synthetic" if synthetic else "csv"}}
        pages = page_files(ROOT / "templates", settings, context, record.files)
        en, zh = pages["index.en.md"].decode(), pages["index.md"].decode()
        if (bundled, synthetic) == (False, False):
            assert "Demo report" not in en and "示範報告" not in zh
            continue
        assert '!!! note "Demo report"\n' + DEMO_NOTES[bundled, synthetic][0] in en
        assert '!!! note "示範報告"\n' + DEMO_NOTES[bundled, synthetic][1] in zh
        assert en.count("Demo report") == 1 and zh.count("示範報告") == 1


def test_a_changed_image_makes_the_next_build_a_full_one(tmp_path):
    """The record of the last build holds the folder's content hash: the quick rebuild checks it."""
    from generator.store import Record
    root = write_tree(tmp_path / "t", count=20, contempt=0)
    record = Record("key", "code", {str(root): load_folder(root).sha256}, {}, {})
    assert record.inputs_unchanged()
    image = next(root.glob("train/*/*.png"))
    image.write_bytes(image.read_bytes() + b"\0")  # the same pixels, other bytes
    assert not record.inputs_unchanged()
