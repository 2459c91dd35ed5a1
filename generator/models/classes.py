"""The names of a model's outputs (``model.classes``), in the model's own order, and how the report's classes
(FER2013's order, 0 angry ... 6 neutral) are read from them.

A model trained with Keras's ``flow_from_directory`` or torchvision's ``ImageFolder`` on the image-folder copy of
FER2013 numbers its outputs in the folders' alphabetical order (4 neutral, 5 sad, 6 surprise), not FER2013's
(4 sad, 5 surprise, 6 neutral): ``"alphabetical"`` names that order. A name that is none of the 7 classes
(FER+'s contempt, unknown, NF) is an output the report drops: the wrapper never passes its logit on, so it takes
no part in any softmax. Pure Python: the settings check it without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass

FER2013 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
ALPHABETICAL = tuple(sorted(FER2013))  # angry disgust fear happy neutral sad surprise
SHORTHANDS = {"fer2013": FER2013, "alphabetical": ALPHABETICAL}
# Lower-case spellings seen in public code (FER+ says anger, happiness, sadness) -> FER2013 label
SPELLINGS = {"angry": 0, "anger": 0, "disgust": 1, "disgusted": 1, "fear": 2, "fearful": 2, "scared": 2,
             "happy": 3, "happiness": 3, "sad": 4, "sadness": 4, "surprise": 5, "surprised": 5, "neutral": 6}


@dataclass(frozen=True)
class ClassOrder:
    names: tuple[str, ...]      # the model's outputs, in its order
    order: tuple[int, ...]      # for each FER2013 class, the index of the model's output that scores it
    dropped: tuple[tuple[int, str], ...]  # (output index, name) of the outputs that are none of the 7 classes

    @property
    def outputs(self) -> int:
        return len(self.names)

    @property
    def is_identity(self) -> bool:
        """FER2013's order and no dropped output: the wrapper adds no step."""
        return self.order == tuple(range(len(FER2013))) and not self.dropped

    @property
    def kind(self) -> str:
        """fer2013, alphabetical or custom, for the pages."""
        for name, names in SHORTHANDS.items():
            if self.order == resolve(names).order and not self.dropped:
                return name
        return "custom"


def label_of(name: str) -> int | None:
    return SPELLINGS.get(name.strip().lower())


def resolve(value) -> ClassOrder:
    """The ClassOrder of a ``model.classes`` value already checked by ``problem``."""
    names = SHORTHANDS[value.lower()] if isinstance(value, str) else tuple(value)
    labels = [label_of(name) for name in names]
    order = tuple(labels.index(c) for c in range(len(FER2013)))
    dropped = tuple((k, name) for k, (name, label) in enumerate(zip(names, labels)) if label is None)
    return ClassOrder(tuple(names), order, dropped)


def problem(value) -> str | None:
    """What is wrong with a ``model.classes`` value, as the "expected ..." part of its error; None if nothing."""
    if isinstance(value, str):
        if value.lower() in SHORTHANDS:
            return None
        return ('"fer2013", "alphabetical", or a list of the names of the model\'s outputs in its order, e.g. '
                '["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]')
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return "a list of strings, the names of the model's outputs in its order"
    seen: dict[str, int] = {}
    for k, name in enumerate(value):
        key = label_of(name)
        key = FER2013[key] if key is not None else name.strip().lower()
        if key in seen:
            return (f"each output named once, but outputs {seen[key]} ({value[seen[key]]!r}) and {k} ({name!r}) "
                    f"both name {key}")
        seen[key] = k
    missing = [FER2013[c] for c in range(len(FER2013)) if FER2013[c] not in seen]
    if missing:
        unknown = [name for name in value if label_of(name) is None]
        verb = "matches" if len(unknown) == 1 else "match"
        dropped = f"; {', '.join(map(repr, unknown))} {verb} no class and would be dropped" if unknown else ""
        return (f"all 7 classes among the names, but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing{dropped}")
    return None


def check_value(value, fail):
    """The schema's check of ``model.classes`` (generator/schema.py calls it with its ``fail``)."""
    reason = problem(value)
    if reason:
        fail(reason)
    return list(value) if isinstance(value, list) else value


def setting_text(value) -> str:
    """``model.classes`` as a TOML value, for the probe's advice."""
    if isinstance(value, str):
        return f'"{value}"'
    return "[" + ", ".join(f'"{name}"' for name in value) + "]"
