"""Typed, validated settings from ``[tool.generator]`` in pyproject.toml, checked before any work starts.

Every setting has a default, so an empty table builds the demo report. CLI flags override the file. An unknown key
or a wrong type stops the build with one line naming the key, the value and what was expected.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path

from generator.errors import InputError
from generator.models import classes
from generator.schema import build_checked, check_override


def _setting(default, doc: str, **checks):
    """A setting: its default, its meaning (docs/settings.md is generated from it) and the checks of schema.py."""
    metadata = {"doc": doc, **checks}
    if isinstance(default, (list, dict)):  # each Settings gets its own copy of a mutable default
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _choice(*options, default, doc: str = ""):
    return _setting(default, doc, choices=options)


def _at_least(low, default, doc: str = ""):
    return _setting(default, doc, min=low)


def _between(low, high, default, open_ends: bool = False, doc: str = ""):
    return _setting(default, doc, min=low, max=high, open=open_ends)


@dataclass(frozen=True)
class Author:
    """Who wrote the report: shown on the home page and on the first page of the PDF."""
    student_id: str = _setting("", "Your student ID.")
    department: str = _setting("", 'Your department and year, e.g. "電機三".')
    name: str = _setting("", "Your name.")


@dataclass(frozen=True)
class Collaborators:
    """Whom you discussed each question with; each list is shown on its question's page."""
    q1: list[str] = _setting([], "Names for question 1.")
    q2: list[str] = _setting([], "Names for question 2.")
    q3: list[str] = _setting([], "Names for question 3.")
    q4: list[str] = _setting([], "Names for question 4.")


@dataclass(frozen=True)
class ModelSettings:
    """The model file and what it expects (docs/models.md)."""
    path: str = _setting("", "The model file, relative to the folder of pyproject.toml; empty: the bundled demo CNN.")
    format: str = _choice("auto", "state_dict", "checkpoint", "module", "torchscript", default="auto", doc=(
        "How the file was saved: auto tells from the file; state_dict (weights only), checkpoint (a dict holding "
        "them), module (`torch.save(model)`), torchscript (`torch.jit.save`)."))
    architecture: str = _setting("", '`"package.module:Class"`, the model class, for a file holding only weights.')
    kwargs: dict = _setting({}, "Keyword arguments for that class.")
    state_dict_key: str = _setting("", "The key of the weights in a checkpoint dict; empty tries the usual ones "
                                       "(state_dict, model, network, model_state_dict, net).")
    input_scale: float = _setting(255.0, "The model sees (pixel / input_scale - input_mean) / input_std, for pixels "
                                         "0-255: 255 for a model trained on pixel / 255, 1 for raw pixels.", min=1e-12)
    input_mean: float = _setting(0.0, "Subtracted after the scaling (see input_scale).")
    input_std: float = _setting(1.0, "Divides after the mean is subtracted (see input_scale).", min=1e-12)
    output: str = _choice("logits", "probabilities", default="logits",
                          doc="What the last layer gives: probabilities when the model ends with a softmax.")
    # What the model takes (generator/models/geometry.py); the face becomes that input inside the model wrapper.
    input_size: int | list[int] = _setting(48, "The side of the square image the model takes, or [height, width]; "
                                               "the 48x48 face becomes it inside the model wrapper.", size=(8, 512))
    input_channels: int = _setting(1, "1 for gray; 3: the gray face copied into each channel (an RGB model).",
                                   choices=(1, 3))
    resize: str = _choice("bilinear", "center-crop", "pad", default="bilinear", doc=(
        "How the 48x48 face becomes input_size: bilinear scales it, center-crop cuts its middle (at most 48), pad "
        "puts it in a black border (at least 48)."))
    classes: str | list[str] = _setting("fer2013", (
        'The names of the model\'s outputs, in its order: "fer2013" (0 angry ... 6 neutral), "alphabetical" (the '
        "order of Keras's flow_from_directory and torchvision's ImageFolder: neutral 4, sad 5, surprise 6), or a "
        "list; names outside the 7 classes (contempt, unknown, NF) are outputs the report drops."),
        check=classes.check_value)
    normalise: str = _choice("fixed", "per-face", default="fixed", doc=(
        "fixed: (pixel / input_scale - input_mean) / input_std; per-face: each face minus its own mean, divided by "
        "its own standard deviation (input_scale, input_mean and input_std are then not used)."))
    probe: bool = _setting(True, "Before the analysis, score the validation faces under common alternative "
                                 "settings, and stop when one is clearly better (docs/models.md).")


@dataclass(frozen=True)
class DataSettings:
    """The faces: your CSV, or the bundled synthetic ones (docs/data.md)."""
    csv: str = _setting("", "The FER2013-format CSV, relative to the folder of pyproject.toml; empty (and no folder): "
                            "the bundled synthetic faces.")
    folder: str = _setting("", "An image folder, <split>/<class>/<image>, relative to the folder of pyproject.toml; "
                               "not with csv (docs/data.md).")
    class_folders: dict = _setting({}, 'Unusual class folder names mapped to a class, e.g. {Surprirse = "surprise"}.')
    validation_fraction: float = _between(0.0, 1.0, 0.1, open_ends=True, doc=(
        "The validation split of a file without PublicTest rows: a seeded, stratified hold-out of this share."))
    synthetic_seed: int = _setting(0, "The seed the synthetic faces are drawn from.")
    synthetic_count: int = _at_least(70, 8400, doc="How many synthetic faces (every tenth is a validation face).")


@dataclass(frozen=True)
class ImageSetSettings:
    """The seven faces every question explains, one per class."""
    indices: list[int | str] = _setting([], "7 faces, one per class in class order: data row numbers (0-based), "
                                            "or an image folder's relative paths; empty: picked.")
    min_confidence: float = _at_least(0.0, 0.5, doc=(
        "When picking: per class, the first validation face classified correctly with at least this probability "
        "(else the most confident correct one)."))


@dataclass(frozen=True)
class FilterSettings:
    """Question 2: gradient ascent for every filter of one conv layer, and its feature maps for one face."""
    layer: str = _setting("", "The conv layer, a name from `python -m generator layers`; empty: the second conv.")
    steps: int = _at_least(1, 100, doc="Gradient-ascent steps per filter (the assignment calls them epochs).")
    lr: float = _at_least(0.0, 0.05, doc="Adam's step size on pixels in [0, 1].")
    start: str = _choice("gray", "noise", "image", default="gray", doc=(
        "Where the ascent starts: gray with faint noise, uniform noise, or the face of image_row."))
    l2: float = _at_least(0.0, 0.01, doc="Pulls pixels toward mid-gray, so that patterns stay local.")
    tv: float = _at_least(0.0, 0.05, doc="Total variation: smooths the pattern against pixel-level noise.")
    jitter: int = _at_least(0, 1, doc="A random shift of up to this many pixels each step, against high-frequency "
                                      "artefacts.")
    image_row: int | str = _setting(6987, "The data row (or an image folder's path) whose feature maps are shown; "
                                          "the first face of the image set if the data has no such face.")
    top: int = _at_least(1, 8, doc="The strongest filters, shown beside their outputs.")


@dataclass(frozen=True)
class LimeSettings:
    """Question 3: LIME on each of the seven faces."""
    num_samples: int = _at_least(10, 1000, doc="Perturbed faces per explanation (lime's default).")
    segments: int = _at_least(2, 50, doc=(
        "SLIC superpixels asked for: on a 48x48 face about 35-45 come out, about 7x7 pixels each."))
    compactness: float = _at_least(0.0, 8.0, doc=(
        "SLIC's compactness on lime's Lab scale: 8 follows brows, eyes and mouth; 20 and up gives a grid."))
    features: int = _at_least(1, 5, doc="Superpixels shown for each sign: green raises the class probability, red "
                                        "lowers it.")
    batch_size: int = _at_least(1, 32, doc="Faces per forward pass; benchmarks/lime_batch.py times other sizes.")


@dataclass(frozen=True)
class OcclusionSettings:
    """Question 4: a box slid over each face, and the class probability where it is."""
    box: int = _at_least(1, 15, doc="The side of the square box, in pixels.")
    stride: int = _at_least(1, 1, doc="The box is centred on every stride-th pixel.")
    fill: float = _between(0.0, 1.0, 1.0, doc="The box's value, pixels in [0, 1]: 1.0 is white.")


@dataclass(frozen=True)
class AttributionSettings:
    """The gradient methods beside vanilla saliency on question 1 (and on the trust page)."""
    smoothgrad_samples: int = _at_least(1, 25, doc="Noisy copies of the face SmoothGrad averages.")
    smoothgrad_noise: float = _at_least(0.0, 0.15, doc="SmoothGrad's noise: its standard deviation on pixels in "
                                                       "[0, 1].")
    ig_baseline: str = _choice("black", "mean", "gray", default="black", doc=(
        "Integrated Gradients' start: black, gray (0.5) or mean (the face's own mean gray)."))
    ig_steps: int = _at_least(1, 50, doc="Integrated Gradients' steps from the baseline to the face.")
    gradcam_layer: str = _setting("", "Grad-CAM's layer, by name; empty: the ReLU after the last conv (rectified "
                                      "feature maps).")
    methods: list[str] = _setting(["saliency", "smoothgrad", "integrated_gradients", "gradcam", "guided_backprop",
                                   "guided_gradcam"], "Question 1's methods: gradient methods of the registry "
                                  "(generator/explain/methods/), saliency among them.")


@dataclass(frozen=True)
class Q4Settings:
    """Question 4: the author's own choice of method."""
    method: str = _setting("occlusion", "Any registered method (generator/explain/methods/); occlusion is the "
                                        "reference report's choice.")


@dataclass(frozen=True)
class TrustSettings:
    """The trust page: how far each method can be trusted, over the evaluation set (docs/report.md)."""
    lime_seeds: int = _at_least(2, 10, doc="LIME runs per face, each with its own seed, for the stability scores.")
    # Two suffice because the reference is compared face by face over the evaluation set, whose interval carries
    # the rest of its noise.
    random_orders: int = _at_least(1, 2, doc=(
        "Random pixel orders averaged per face into the deletion/insertion reference."))
    # 144 gives 16 steps: the curves of every evaluation face cost 17 forward passes each rather than 49 (on 21 demo
    # faces, saliency's AUCs moved by 0.01 on average)
    pixels_per_step: int = _at_least(1, 144, doc="Pixels removed or restored per deletion/insertion step.")
    sanity_occlusion_stride: int = _at_least(1, 6, doc=(
        "Occlusion's stride on the evaluation set and in the randomisation check, which re-runs it after every "
        "randomisation step."))
    imputation: str = _choice("road", "mean", default="road", doc=(
        "What deletion/insertion put in a removed pixel: road (ROAD's noisy linear imputation) or mean (mean gray; "
        "insertion starts from the blurred face)."))
    # More narrows every interval, and costs the gradient methods (on the trained and the randomised model) and
    # deletion/insertion of each face.
    faces_per_class: int = _at_least(1, 10, doc=(
        "Correctly classified validation faces per class in the evaluation set, which question 1's class averages "
        "share."))


@dataclass(frozen=True)
class Settings:
    """Settings outside any table."""
    seed: int = _setting(0, "Seeds every random step: the faces picked, SmoothGrad's noise, LIME, the intervals.")
    site_dir: str = _setting("site_src", "The MkDocs docs folder the generator writes, relative to the folder of "
                                         "pyproject.toml.", nonempty=True)
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
