"""Typed, validated settings from ``[tool.generator]`` in pyproject.toml, checked before any work starts.

Every setting has a default, so an empty table builds the demo report. CLI flags override the file. An unknown key
or a wrong type stops the build with one line naming the key, the value and what was expected.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path

from generator.errors import InputError
from generator.models import classes
from generator.schema import build_checked, check_override


def _choice(*options: str, default: str):
    return field(default=default, metadata={"choices": options})


def _at_least(low, default):
    return field(default=default, metadata={"min": low})


def _between(low, high, default, open_ends: bool = False):
    return field(default=default, metadata={"min": low, "max": high, "open": open_ends})


@dataclass(frozen=True)
class Author:
    student_id: str = ""
    department: str = ""  # department and year, e.g. "電機三"
    name: str = ""


@dataclass(frozen=True)
class Collaborators:
    q1: list[str] = field(default_factory=list)
    q2: list[str] = field(default_factory=list)
    q3: list[str] = field(default_factory=list)
    q4: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelSettings:
    path: str = ""  # empty: the bundled demo CNN
    format: str = _choice("auto", "state_dict", "checkpoint", "module", "torchscript", default="auto")
    architecture: str = ""  # "package.module:Class", for a state_dict or a checkpoint dict without one
    kwargs: dict = field(default_factory=dict)
    state_dict_key: str = ""  # for a checkpoint dict; empty tries state_dict, model, network
    input_scale: float = field(default=255.0, metadata={"min": 1e-12})  # the model sees (pixel / input_scale - input_mean) / input_std
    input_mean: float = 0.0
    input_std: float = field(default=1.0, metadata={"min": 1e-12})
    output: str = _choice("logits", "probabilities", default="logits")
    # What the model takes (generator/models/geometry.py); the face becomes that input inside the model wrapper.
    input_size: int | list[int] = field(default=48, metadata={"size": (8, 512)})  # or [height, width]
    input_channels: int = field(default=1, metadata={"choices": (1, 3)})  # 3: the gray face in every channel
    resize: str = _choice("bilinear", "center-crop", "pad", default="bilinear")
    # The names of the model's outputs in its order (generator/models/classes.py): "fer2013", "alphabetical" (the
    # order of flow_from_directory and ImageFolder), or a list; names outside the 7 classes are dropped outputs.
    classes: str | list[str] = field(default="fer2013", metadata={"check": classes.check_value})
    # "fixed": (pixel / input_scale - input_mean) / input_std; "per-face": each face minus its own mean, divided by
    # its own standard deviation (input_scale, input_mean and input_std are then not used)
    normalise: str = _choice("fixed", "per-face", default="fixed")
    probe: bool = True  # score the validation faces under common alternative settings first (generator/probe.py)


@dataclass(frozen=True)
class DataSettings:
    csv: str = ""  # empty (and no folder): the bundled synthetic faces
    folder: str = ""  # an image folder, <split>/<class>/<image> (generator/data/folders.py); not with csv
    # unusual class folder names -> a class, e.g. {Surprirse = "surprise"} (generator/data/spellings.py)
    class_folders: dict = field(default_factory=dict)
    validation_fraction: float = _between(0.0, 1.0, 0.1, open_ends=True)  # used when the file has no PublicTest rows
    synthetic_seed: int = 0
    synthetic_count: int = _at_least(70, 8400)


@dataclass(frozen=True)
class ImageSetSettings:
    # 7 faces, one per class in class order: row numbers, or an image folder's relative paths; empty: pick
    indices: list[int | str] = field(default_factory=list)
    min_confidence: float = _at_least(0.0, 0.5)


@dataclass(frozen=True)
class FilterSettings:
    layer: str = ""  # a Conv2d name from `python -m generator layers`; empty: the second conv (block 1's second)
    steps: int = _at_least(1, 100)  # gradient-ascent steps, the same for every filter
    lr: float = _at_least(0.0, 0.05)  # Adam step on pixels in [0, 1]
    start: str = _choice("gray", "noise", "image", default="gray")  # gray + faint noise, uniform noise, the face
    l2: float = _at_least(0.0, 0.01)  # pulls pixels toward mid-gray, so patterns stay local
    tv: float = _at_least(0.0, 0.05)  # total variation, against pixel-level noise
    jitter: int = _at_least(0, 1)  # random shift of up to this many pixels each step, against high-frequency artefacts
    # the image whose feature maps are shown (a row, or an image folder's path); without such a row, the first face
    image_row: int | str = 6987
    top: int = _at_least(1, 8)  # filters shown side by side with their outputs


@dataclass(frozen=True)
class LimeSettings:
    num_samples: int = _at_least(10, 1000)  # lime's default
    segments: int = _at_least(2, 50)  # SLIC superpixels asked for; on a 48x48 face ~35-45 come out, ~7x7 pixels
    compactness: float = _at_least(0.0, 8.0)  # on lime's Lab scale: 8 follows brows, eyes, mouth; 20+ is a grid
    features: int = _at_least(1, 5)  # superpixels shown for each sign
    batch_size: int = _at_least(1, 32)  # faces per forward pass; benchmarks/lime_batch.py times other sizes


@dataclass(frozen=True)
class OcclusionSettings:
    box: int = _at_least(1, 15)
    stride: int = _at_least(1, 1)
    fill: float = _between(0.0, 1.0, 1.0)  # the box's value, pixels in [0, 1]: 1.0 is white


@dataclass(frozen=True)
class AttributionSettings:
    smoothgrad_samples: int = _at_least(1, 25)
    smoothgrad_noise: float = _at_least(0.0, 0.15)  # standard deviation on the [0, 1] pixel scale
    ig_baseline: str = _choice("black", "mean", "gray", default="black")  # mean: the face's own mean gray
    ig_steps: int = _at_least(1, 50)
    gradcam_layer: str = ""  # a Conv2d name; empty: the ReLU after the last Conv2d (rectified feature maps)
    # Question 1's methods: gradient methods of the registry (generator/explain/methods/), saliency among them
    methods: list[str] = field(default_factory=lambda: ["saliency", "smoothgrad", "integrated_gradients", "gradcam",
                                                        "guided_backprop", "guided_gradcam"])


@dataclass(frozen=True)
class Q4Settings:
    method: str = "occlusion"  # question 4 answers with any registered method (generator/explain/methods/)


@dataclass(frozen=True)
class TrustSettings:
    lime_seeds: int = _at_least(2, 10)  # LIME runs per face for the stability scores
    # The deletion/insertion reference: random pixel orders averaged per face. Two suffice because the reference is
    # compared face by face over the evaluation set, whose interval carries the rest of its noise.
    random_orders: int = _at_least(1, 2)
    # Deletion/insertion: pixels removed or restored per step. 144 gives 16 steps: the curves of every evaluation
    # face cost 17 forward passes each rather than 49 (on 21 demo faces, saliency's AUCs moved by 0.01 on average)
    pixels_per_step: int = _at_least(1, 144)
    sanity_occlusion_stride: int = _at_least(1, 6)  # occlusion is re-run after every randomisation step: coarser
    imputation: str = _choice("road", "mean", default="road")  # what deletion/insertion put in a removed pixel
    # Correctly classified validation faces per class in the evaluation set, which question 1's class averages
    # share: more narrows every interval, and costs the gradient methods (on the trained and the randomised model)
    # and deletion/insertion of each face (README: Trust settings)
    faces_per_class: int = _at_least(1, 10)


@dataclass(frozen=True)
class Settings:
    seed: int = 0
    site_dir: str = field(default="site_src", metadata={"nonempty": True})
    author: Author = field(default_factory=Author)
    collaborators: Collaborators = field(default_factory=Collaborators)
    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    images: ImageSetSettings = field(default_factory=ImageSetSettings)
    filters: FilterSettings = field(default_factory=FilterSettings)
    lime: LimeSettings = field(default_factory=LimeSettings)
    occlusion: OcclusionSettings = field(default_factory=OcclusionSettings)
    attribution: AttributionSettings = field(default_factory=AttributionSettings)
    trust: TrustSettings = field(default_factory=TrustSettings)
    q4: Q4Settings = field(default_factory=Q4Settings)
    root: Path = field(default=Path("."), metadata={"internal": True})  # where relative paths start
    source: str = field(default="pyproject.toml", metadata={"internal": True})  # the settings file, for messages
    cli: dict = field(default_factory=dict, metadata={"internal": True})  # dotted key -> the flag that set it

    def resolve(self, path: str) -> Path:
        return (self.root / path).resolve() if path else self.root

    def where(self, dotted: str) -> str:
        """Where a setting came from, for error messages: its command-line flag, or the file, table and key."""
        if dotted in self.cli:
            return self.cli[dotted]
        *sections, key = dotted.split(".")
        return f"{self.source} [{'.'.join(['tool.generator', *sections])}] {key}"


def check_geometry(model: ModelSettings, where: str) -> None:
    """The settings that only make sense together: a crop cannot grow the face, a border cannot shrink it."""
    sides = [model.input_size] if isinstance(model.input_size, int) else model.input_size
    if model.resize == "center-crop" and max(sides) > 48:
        raise InputError(f"{where}: resize = 'center-crop' with input_size = {model.input_size!r}: expected a size "
                         "of at most 48, a crop of the 48x48 face; use resize = 'bilinear' to scale the face up")
    if model.resize == "pad" and min(sides) < 48:
        raise InputError(f"{where}: resize = 'pad' with input_size = {model.input_size!r}: expected a size of at "
                         "least 48, the 48x48 face with a border; use resize = 'bilinear' or 'center-crop'")


def check_data(data: DataSettings, where: str) -> None:
    """One source of faces at a time, and class folder names that map onto a class."""
    if data.csv and data.folder:
        raise InputError(f"{where}: both csv = {data.csv!r} and folder = {data.folder!r} are set, expected one of "
                         "them: a FER2013-format CSV or an image folder")
    from generator.data.spellings import check_class_folders
    check_class_folders(data.class_folders, f"{where} class_folders")


def settings_from_table(table: dict, root: Path, where: str = "[tool.generator]",
                        geometry_where: str = "") -> Settings:
    """``geometry_where`` names where the model's geometry keys came from (default: the file's model table)."""
    settings = replace(build_checked(Settings, table, where), root=root)
    check_geometry(settings.model, geometry_where or f"{where}.model")
    check_data(settings.data, f"{where}.data")
    return settings


def load_settings(pyproject: Path, overrides: dict | None = None, labels: dict | None = None) -> Settings:
    """Read ``[tool.generator]`` from ``pyproject`` and apply ``overrides`` (dotted keys from the CLI).

    ``labels`` names the flag behind an override (``model.path`` -> ``--model``); by default ``--set KEY``. The file
    is checked alone first and each override on its own, so every error names where the bad value came from.
    """
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{pyproject}: settings file not found (run from the project folder, or pass --config)")
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{pyproject}: not valid TOML: {error}") from None
    table = document.get("tool", {}).get("generator", {})
    root, where = pyproject.parent.resolve(), f"{pyproject} [tool.generator]"
    settings_from_table(table, root, where)
    cli = {dotted: (labels or {}).get(dotted, f"--set {dotted}") for dotted in overrides or {}}
    for dotted, value in (overrides or {}).items():
        check_override(Settings, dotted, value, cli[dotted])
        *sections, key = dotted.split(".")
        target = table
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    flags = [cli[k] for k in ("model.resize", "model.input_size", "model") if k in cli]
    return replace(settings_from_table(table, root, where, flags[0] if flags else ""), source=str(pyproject),
                   cli=cli)


def parse_override(text: str) -> tuple[str, object]:
    """``section.key=value`` with a TOML value; a bare word is taken as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {text!r}: expected section.key=value, e.g. --set model.output=\"probabilities\"")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def as_table(settings: Settings) -> dict:
    """The settings as a plain nested dict (for the reproducibility page and the cache key)."""
    out = {}
    for f in fields(settings):
        if f.metadata.get("internal"):
            continue
        value = getattr(settings, f.name)
        out[f.name] = as_table(value) if is_dataclass(value) else value
    return out
