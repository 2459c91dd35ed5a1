"""The pipeline in one readable function: gather everything in memory, then write site_src/ once.

settings -> data and model -> checks -> the estimate of what is left to compute -> image set -> the stages of
generator/questions (each cached) -> page context -> pages -> site_src/ -> the record of this build
(generator/store.py). Nothing is written to site_src/ until every page and figure exists, so a failed build leaves
it as it was.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch

from generator.config import Settings, as_table
from generator.data.fer2013 import NUM_CLASSES
from generator.estimate import announce
from generator.evaluation import evaluation_set
from generator.explain.regions import template_parts
from generator.imageset import pick_images
from generator.inputs import DataInputs, load_data
from generator.models.fast import inference_model
from generator.models.hooks import inner_module
from generator.models.load import LoadedModel, load_model
from generator.only import merged_files, previous_context, require_full_build
from generator.pages import outputs_context, report_context
from generator.preflight import check_before_analysis, fixed_rows
from generator.probe import predict_and_probe
from generator.progress import Progress, as_progress
from generator.rebuild import analysis_key
from generator.site.render import page_files
from generator.site.writer import write_site
from generator.stages import StageInputs, Timer, pending_stages, run_stages, stage_contexts, stage_names
from generator.store import Record, Store, code_version, file_sha256, versions


def build(settings: Settings, template_dir: Path, progress=lambda _: None, force: bool = False,
          data: DataInputs | None = None, device: str = "cpu", only: str | None = None) -> dict:
    """Build the report into ``settings.site_dir``. Returns stage timings, the estimate said before them (step ->
    seconds; empty when every stage came from the cache), cache use and write counts.

    ``progress``: a generator.progress.Progress, or a function of one line. ``data``: ``load_data(settings)``'s
    output where the caller has loaded it already (the CLI does, to report a bad CSV before importing torch).
    ``force`` recomputes every stage. ``only`` (a key of generator.questions.ALONE) computes that stage alone and
    rewrites only its files (see generator/only.py).
    """
    progress = as_progress(progress)
    timer = Timer(progress)
    site_dir = settings.resolve(settings.site_dir)
    store = Store(settings.root, site_dir, force)
    if only:
        require_full_build(store, site_dir, only)
    torch.manual_seed(settings.seed)
    # Not announced: the error of a bad model or data file is then the only line the user sees.
    with timer.stage("load model and data", announce=False):
        data, loaded, fast = _load_and_check(settings, data, device, progress)
    files_read = _input_files(settings, loaded, data)
    key = _stage_key(settings, loaded, data, device, files_read)
    predictions_key = dict(key, probe=settings.model.probe)
    run, predicted = stage_names(only), store.has("predictions", predictions_key)
    # Before the predictions, when they must be computed: the faces are not known yet, nor which stages the cache
    # holds, so every stage is counted. Otherwise after them, for the stages the cache cannot give.
    estimate = {} if predicted else _estimate(settings, loaded, fast, run, run, len(data.dataset.images), timer)
    with timer.stage("validation predictions and image set"):
        # The probe (generator/probe.py) runs with them, so a build it stops writes nothing, not even this entry
        probabilities, probe = store.run("predictions", predictions_key,
                                         lambda: predict_and_probe(settings, loaded.model, fast, data))
        images = pick_images(probabilities, data.dataset.labels, data.validation, data.rows,
                             settings.images.min_confidence, fixed_rows(settings, data))
        evaluation = evaluation_set(probabilities, data, settings.trust.faces_per_class, settings.seed)
    # --only: the last full build's context, checked now (same faces) rather than after minutes of analysis
    earlier = previous_context(store, site_dir, only, images.rows) if only else None
    faces = data.dataset.images[images.positions]
    masks = data.dataset.parts[images.positions] if data.dataset.parts is not None else None
    parts = masks if masks is not None else np.stack([template_parts()] * len(faces))
    inputs = StageInputs(settings, loaded.model, fast, data, images, faces, masks, parts, probabilities, progress,
                         evaluation=evaluation)
    # The evaluation set's rows too: question 1 averages over it and the trust stage scores it (it follows
    # trust.faces_per_class, a setting question 1 does not read)
    chosen = dict(key, rows=images.rows, targets=images.targets, validation=data.validation,
                  evaluation=evaluation.rows)
    if predicted:
        estimate = _estimate(settings, loaded, fast, pending_stages(settings, store, chosen, only), run, 0, timer)
    files = run_stages(inputs, store, chosen, timer, only)
    with timer.stage("pages"):
        context = earlier if only else {
            **report_context(settings, loaded, data, images, _accuracy(probabilities, data), files),
            "settings_trust": settings.trust, "settings_lime": settings.lime, "probe": probe,
            "outputs": outputs_context(loaded)}
        context.update(stage_contexts(inputs))
        site_files = page_files(template_dir, settings, context, files)
    with timer.stage("write site_src"):
        counts = write_site(site_dir, merged_files(site_dir, only, site_files) if only else site_files)
    if not only:  # saved after the write: the next rebuild renders from it when no analysis input changed
        store.save_record(Record(analysis_key(settings), code_version(), files_read, context, files))
    store.evict()
    return {"stages": timer.stages, "estimate": estimate, "files": counts, "site_dir": str(site_dir),
            "cached": store.hits, "computed": store.misses, "absent": list(images.absent)}


def _estimate(settings: Settings, loaded: LoadedModel, fast, pending: list[str], run: list[str], data_faces: int,
              timer: Timer) -> dict:
    """Measure this machine's speed and say what ``pending`` will cost; nothing when every stage comes from the
    cache, so a rebuild stays fast. Returns the estimated seconds of each step."""
    if not pending and not data_faces:
        return {}
    with timer.stage("speed measurement", announce=False):
        return announce(settings, loaded.model, fast, pending, run, NUM_CLASSES, data_faces, timer.progress)


def _load_and_check(settings: Settings, data: DataInputs | None, device: str, progress: Progress):
    """The data first (a bad CSV is the likelier mistake, and its check costs less than loading the model), then
    the model, then every check that needs both: a bad input fails in seconds, not after the analysis."""
    data = data if data is not None else load_data(settings)
    loaded = load_model(settings.model, settings.root, device, progress)
    check_before_analysis(settings, loaded.model, data)
    # Forward-only methods run on the chosen device; gradients, hooks and the incremental occlusion read the
    # layers directly and stay on the CPU with the eager model.
    on_device = copy.deepcopy(loaded.model).to(device) if device != "cpu" else loaded.model
    return data, loaded, inference_model(on_device, progress)


def _source_file(model: torch.nn.Module) -> Path | None:
    """The file that defines the model's class (a student may edit it without retraining), or None (TorchScript)."""
    path = getattr(sys.modules.get(type(inner_module(model)).__module__), "__file__", None)
    return Path(path).resolve() if path and Path(path).is_file() else None


def _input_files(settings: Settings, loaded: LoadedModel, data: DataInputs) -> dict[str, str]:
    """Every file the analysis read, absolute path -> SHA-256: the checkpoint, its class's source, the CSV."""
    files = {str(loaded.path.resolve()): loaded.sha256}
    source = _source_file(loaded.model)
    if source is not None:
        files[str(source)] = file_sha256(source)
    if not data.synthetic:  # synthetic faces come from the generator's own code, which every key holds
        # An image folder's hash covers its listed paths and bytes (generator/data/folders.py folder_sha256)
        source = settings.data.folder or settings.data.csv
        files[str(settings.resolve(source))] = data.sha256
    return files


def _stage_key(settings: Settings, loaded: LoadedModel, data: DataInputs, device: str, files_read: dict) -> dict:
    """What every stage's result depends on, besides the settings sections it reads."""
    source = _source_file(loaded.model)
    # model.probe changes no number of the analysis: only the predictions' entry, which holds the probe's table
    model_settings = {k: v for k, v in as_table(settings.model).items() if k != "probe"}
    return {"model": loaded.sha256, "model_settings": model_settings, "data": data.sha256,
            "seed": settings.seed, "device": device, "model_source": files_read.get(str(source), ""),
            "versions": versions(settings.model.path)}


def _accuracy(probabilities: np.ndarray, data: DataInputs) -> float:
    validation = data.validation
    if not len(validation):
        return 0.0
    return float((probabilities[validation].argmax(1) == data.dataset.labels[validation]).mean())
