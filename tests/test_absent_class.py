"""A CSV with no face of some class: the report builds on the other classes and says so, on
the home page, on every question page and the trust page, in both languages, in the confusion matrix's note and
in the build's summary."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np

from conftest import QUICK, mkdocs_config_in, quick_tables, run_cli, write_project
from generator.config import Settings
from generator.data import synth
from generator.data.fer2013 import write_csv

NOTE = {"en": ['!!! warning "Classes without a face"',
               "    The data has no face of 2 Fear. No page can explain a class it has no face of: each page explains "
               "the other classes, and the confusion matrix keeps the class's row, as zeros."],
        "zh-TW": ['!!! warning "沒有臉的類別"',
                  "    資料中沒有 2 恐懼 的臉。沒有臉的類別無法解釋：每一頁解釋其餘的類別，confusion matrix 仍保留該類別的列，全為 0。"]}
SUFFIX = {"en": ".en.md", "zh-TW": ".md"}
PRESENT = [0, 1, 3, 4, 5, 6]


def test_a_csv_without_fear_builds_and_every_page_marks_the_class_absent(tmp_path):
    write_project(tmp_path, **quick_tables(QUICK))
    images, labels, _ = synth.render_dataset(5, range(70))
    keep = labels != 2
    write_csv(tmp_path / "faces.csv", images[keep], labels[keep], [synth.usage_of(i) for i in np.flatnonzero(keep)])

    result = run_cli(tmp_path, "build", timeout=1800)
    assert result.returncode == 0, result.stderr
    assert ("  absent classes: the data has no face of 2 fear; every page marks it absent and explains the other "
            "classes\n") in result.stdout

    site = tmp_path / "site_src"
    figures = sorted(str(p.relative_to(site)) for p in site.rglob("*.png"))
    per_class = [f"figures/images/class_{c}.png" for c in PRESENT] + [
        f"figures/{q}/{name}_{c}.png" for q, names in (("q1", ("methods", "saliency")), ("q3", ("lime",)),
                                                      ("q4", ("occlusion",))) for name in names for c in PRESENT]
    # question 1's class averages: one per class, the absent one too (blank, its caption says n = 0)
    averages = [f"figures/q1/average_{c}.png" for c in range(7)]
    assert figures == sorted(per_class + averages + [
        "figures/q2/feature_maps.png", "figures/q2/filters.png", "figures/q2/top_filters.png",
        "figures/q3/confusion_matrix.png", "figures/trust/deletion_insertion.png", "figures/trust/lime_std.png",
        # the randomisation check of every method question 1 shows, and of occlusion (question 4's default)
        *[f"figures/trust/sanity_{m}.png" for m in (*Settings().attribution.methods, "occlusion")]])

    for language, suffix in SUFFIX.items():
        pages = {page: (site / f"{page}{suffix}").read_text(encoding="utf-8").splitlines()
                 for page in ("index", "q1", "q2", "q3", "q4", "trust")}
        for page in ("q1", "q2", "q3", "q4"):  # right under the points line
            lines = pages[page]
            assert lines[2].startswith('<p class="points">') and lines[4:6] == NOTE[language], (language, page)
        assert pages["trust"][2:4] == NOTE[language]  # right under the title
        home = pages["index"]
        assert home[home.index(NOTE[language][0]) + 3] in ("## Questions", "## 題目")  # above the questions
        assert sum(line == NOTE[language][0] for page in pages.values() for line in page) == 6
        absent_row = {"en": "| 2 Fear | no face in the data | — | — |", "zh-TW": "| 2 恐懼 | 資料中沒有這個類別的臉 | — | — |"}
        face_rows = [line for line in home if line.startswith("| ") and line[2].isdigit()]
        assert [row.split()[1] for row in face_rows] == [str(c) for c in range(7)]
        assert face_rows[2] == absent_row[language]
        # the confusion matrix keeps fear's row: no validation face, zeros, no accuracy, and a note under the table
        q3 = pages["q3"]
        assert {"en": "| 2 Fear | 0 | — |", "zh-TW": "| 2 恐懼 | 0 | — |"}[language] in q3
        assert {"en": "- The validation split has no face of Fear: its row of the matrix is zeros, and its accuracy "
                      "is not defined (—).",
                "zh-TW": "- 驗證集中沒有恐懼的臉：矩陣中該列全為 0，準確率無定義（—）。"}[language] in q3
        for page in ("q1", "q3", "q4"):  # the class sections hold the six present classes, in class order
            sections = [line for line in pages[page] if re.match(r"### \d+\. ", line)]
            assert [int(line.split(".")[0][4:]) for line in sections] == PRESENT, (language, page)

    # mkdocs renders the admonitions and finds every figure the pages name
    mkdocs_config_in(tmp_path)
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(tmp_path / "mkdocs.yml"),
                          "-d", str(tmp_path / "site")], capture_output=True, text=True,
                         env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert run.returncode == 0, run.stderr
