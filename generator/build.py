"""The pipeline in one readable function: gather everything in memory, then write site_src/ once.

config -> inputs (model, data) -> image set -> stages (analysis, then its figures; cached) -> pages -> site_src/
Nothing is written until every page and figure exists, so a failed build leaves site_src/ as it was.
"""
from __future__ import annotations

import copy
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from generator.cache import CACHE_FOLDER, Cache, evict
from generator.config import Settings, as_table
from generator.explain.regions import template_parts
from generator.imageset import ImageSet, pick_images, predict
from generator.inputs import DataInputs, load_data
from generator.models.fast import inference_model
from generator.models.load import LoadedModel, load_model
from generator.only import context_file, merged_files, previous_context, require_full_build, save_context
from generator.preflight import check_before_analysis
from generator.rebuild import bundle_path, file_sha256, page_files, save_bundle, versions
from generator.pages import report_context
from generator.site.writer import write_site

class Timer:
    def __init__(self, progress):
        self.stages: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str, announce: bool = True):
        if announce:
            self.progress(f"{name}...")
        start = time.perf_counter()
        yield
        self.stages[name] = time.perf_counter() - start


def _q2_face(settings: Settings, data: DataInputs, images: ImageSet, faces) -> tuple:
    """The face whose feature maps Q2 shows: the configured row when the data has it, else the first face."""
    row = settings.filters.image_row
    found = data.face_at_row(row)
    if found is None:
        found, row, rule = (faces[0], None), int(images.rows[0]), "fallback"
    else:
        rule = "configured"
    face, part_map = found
    return face, row, rule, part_map if part_map is not None else template_parts()


def _source_file(model: torch.nn.Module) -> Path | None:
    """The file that defines the model's class, or None when there is none (TorchScript)."""
    inner = getattr(model, "inner", model)
    path = getattr(sys.modules.get(type(inner).__module__), "__file__", None)
    return Path(path).resolve() if path and Path(path).is_file() else None


def build(settings: Settings, template_dir: Path, progress=lambda _: None, force: bool = False,
          data: DataInputs | None = None, device: str = "cpu", only: str | None = None) -> dict:
    """Build the report into ``settings.site_dir``. Returns stage timings, cache use and write counts.

    ``data`` is the output of ``load_data(settings)`` where the caller has loaded it already (the CLI does, to
    report a bad CSV before importing torch).

    Each analysis stage, with its figures, is cached by a hash of what it depends on (see generator/cache.py):
    a rebuild after a prose or template edit only renders pages. ``force`` recomputes every stage. ``only``
    ("q1" to "q4") computes that question alone and rewrites only its files (see generator/only.py).
    """
    timer = Timer(progress)
    cache = Cache(settings.root / CACHE_FOLDER, force=force)
    site_dir = settings.resolve(settings.site_dir)
    saved = context_file(settings.root / CACHE_FOLDER, site_dir, settings.root)
    if only:
        require_full_build(saved, site_dir, only)
    torch.manual_seed(settings.seed)
    # Not announced: the error of a bad model or data file is then the only line the user sees. The data first,
    # because a bad CSV is the likelier mistake and its check costs less than loading the model.
    with timer.stage("load model and data", announce=False):
        data = data if data is not None else load_data(settings)
        loaded: LoadedModel = load_model(settings.model, settings.root, device)
        check_before_analysis(settings, loaded.model, data)  # fail in seconds, not after the analysis
        # Imported only now: they pull in lime, scikit-learn, scipy and matplotlib, seconds that a bad input
        # should not wait for.
        from generator.questions import q1, q2, q3, q4, trust
        # Forward-only methods on the chosen device; gradients, hooks and the incremental occlusion read the layers
        # directly and stay on the CPU with the eager model.
        on_device = copy.deepcopy(loaded.model).to(device) if device != "cpu" else loaded.model
        fast = inference_model(on_device, progress)
    # Besides the weights: the source of the model's class (a student may edit it without retraining) and the
    # versions of the packages that compute the results.
    source = _source_file(loaded.model)
    inputs = {str(loaded.path.resolve()): loaded.sha256}
    if source is not None:
        inputs[str(source)] = file_sha256(source)
    if not data.synthetic:  # synthetic faces come from the generator's own code, which every key holds
        inputs[str(settings.resolve(settings.data.csv))] = data.sha256
    base = {"model": loaded.sha256, "model_settings": as_table(settings.model), "data": data.sha256,
            "seed": settings.seed, "device": device, "model_source": inputs.get(str(source), ""),
            "versions": versions()}
    with timer.stage("validation predictions and image set"):
        probabilities = cache.run("predictions", base, lambda: predict(fast, data.dataset.images))
        images = pick_images(probabilities, data.dataset.labels, data.validation, data.rows,
                             settings.images.min_confidence, settings.images.indices)
        val = data.validation
        val_accuracy = float((probabilities[val].argmax(1) == data.dataset.labels[val]).mean()) if len(val) else 0.0
    # --only: the last full build's context, checked now (same faces) rather than after minutes of analysis
    earlier = previous_context(saved, site_dir, only, images.rows) if only else None
    files: dict[str, bytes] = {}
    model = loaded.model
    faces = data.dataset.images[images.positions]
    masks = data.dataset.parts[images.positions] if data.dataset.parts is not None else None
    parts = masks if masks is not None else np.stack([template_parts()] * len(faces))
    chosen = dict(base, rows=images.rows, targets=images.targets)

    def stage(name: str, settings_read: dict, analyse, draw):
        """One cached stage: the analysis and its figure files, computed together on a miss."""
        if only and name.split()[0] != only:
            return None  # --only: this question's page keeps the last full build's numbers
        def compute():
            result = analyse()
            return result, draw(result)
        with timer.stage(name):
            result, figures = cache.run(name.split()[0], dict(chosen, **settings_read), compute)
        files.update(figures)
        return result

    attribution = as_table(settings.attribution)
    q1_result = stage("q1 saliency and gradient methods", {"attribution": attribution},
                      lambda: q1.analyse(model, faces, images.targets, masks, settings.attribution, settings.seed),
                      lambda r: q1.figures(faces, r))
    q2_face = _q2_face(settings, data, images, faces)
    q2_result = stage("q2 filters", {"filters": as_table(settings.filters)},
                      lambda: q2.analyse(model, settings.filters, settings.seed, *q2_face), q2.figures)
    q3_result = stage("q3 lime and confusion matrix", {"lime": as_table(settings.lime), "validation": val},
                      lambda: q3.analyse(fast, settings.lime, settings.seed, faces, images.targets,
                                         data.dataset.labels[val], probabilities[val].argmax(1), parts, progress),
                      lambda r: q3.figures(faces, r, settings.lime))
    q4_result = stage("q4 occlusion", {"occlusion": as_table(settings.occlusion)},
                      lambda: q4.analyse(model, fast, settings.occlusion, faces, images.targets, parts),
                      lambda r: q4.figures(faces, r))
    trust_result = stage(
        "trust", {"trust": as_table(settings.trust), "attribution": attribution, "lime": as_table(settings.lime),
                  "occlusion": as_table(settings.occlusion)},
        lambda: trust.analyse(model, fast, settings, faces, images.targets,
                              q1.methods_for(model, settings.attribution, settings.seed)[0], q1_result.methods,
                              q3_result.explanations, q4_result.occlusions, masks, images.rows,
                              data.synthetic_seed if data.synthetic else None, progress),
        trust.figures)
    question_context = {
        "q1": lambda: q1.context(q1_result, images.rows, images.probabilities),
        "q2": lambda: q2.context(q2_result, settings.filters),
        "q3": lambda: q3.context(q3_result, images.rows, settings.lime),
        "q4": lambda: q4.context(q4_result, images.rows, settings.occlusion)}
    with timer.stage("pages"):
        context = earlier if only else {
            **report_context(settings, loaded, data, images, val_accuracy, files),
            **{q: make() for q, make in question_context.items()},
            "trust": trust.context(trust_result), "settings_trust": settings.trust, "settings_lime": settings.lime,
        }
        if only:
            context[only] = question_context[only]()
        site_files = page_files(template_dir, settings, context, files)
    with timer.stage("write site_src"):
        counts = write_site(site_dir, merged_files(site_dir, only, site_files) if only else site_files)
    bundle = bundle_path(settings, cache.folder)
    if not only:  # saved after the write: the next rebuild renders from them when no analysis input changed
        save_context(saved, context)
        save_bundle(bundle, inputs, context, files)
    evict(cache.folder, keep=cache.used | {bundle, saved})
    return {"stages": timer.stages, "files": counts, "site_dir": str(settings.resolve(settings.site_dir)),
            "cached": cache.hits, "computed": cache.misses}
