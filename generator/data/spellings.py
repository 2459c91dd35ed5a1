"""The names an image folder's split and class folders may have, matched without case. Kept apart from the loader
(generator/data/folders.py) so that the settings check them without importing numpy or Pillow."""
from __future__ import annotations

from generator.errors import InputError

CLASS_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER2013's label order
# Lower-case folder names -> FER2013 label: Kaggle's image copy, FER+ (anger, happiness, ...) and other public code.
SPELLINGS = {
    "angry": 0, "anger": 0,
    "disgust": 1, "disgusted": 1,
    "fear": 2, "fearful": 2, "scared": 2,
    "happy": 3, "happiness": 3,
    "sad": 4, "sadness": 4,
    "surprise": 5, "surprised": 5,
    "neutral": 6,
}
LEFT_OUT = ("contempt",)  # FER+'s eighth class: not one of FER2013's seven, left out and counted
# Lower-case split folder names -> FER2013's Usage; a PublicTest split is the validation split.
SPLITS = {"train": "Training", "training": "Training",
          "test": "PublicTest", "val": "PublicTest", "validation": "PublicTest", "publictest": "PublicTest",
          "privatetest": "PrivateTest"}


def class_of(name: str, mapping: dict) -> int | None:
    """The FER2013 label of a class folder, or None for a left-out class; KeyError for a name that matches none.
    ``mapping`` (``data.class_folders``) is tried first, also without case."""
    mapped = {k.lower(): v.lower() for k, v in mapping.items()}
    key = mapped.get(name.lower(), name.lower())
    if key in SPELLINGS:
        return SPELLINGS[key]
    if key in LEFT_OUT:
        return None
    raise KeyError(name)


def check_class_folders(mapping: dict, where: str) -> None:
    """Every value of ``data.class_folders`` must name a class (or contempt)."""
    for folder, target in mapping.items():
        if not isinstance(target, str) or (target.lower() not in SPELLINGS and target.lower() not in LEFT_OUT):
            raise InputError(f"{where}: {folder!r} = {target!r}: expected one of {', '.join(CLASS_ORDER)} "
                             "or contempt")
