"""The trust page: how far each explanation can be trusted, measured, for every method of the report. A stage (see
generator/stages.py) that reads the results of question 3 (LIME).

Every number is a mean over faces with its 95% interval and n. The methods that fit the cost run on the
evaluation set (generator/evaluation.py: many correctly classified validation faces per class): question 1's four
gradient methods and occlusion, on a coarser grid. LIME costs a second or more per face, so its deletion, insertion
and stability stay on the seven report faces, and the page gives its n. Verdicts come from paired comparisons on the
same faces (generator/explain/scoring.py). The intervals are computed here, in the cached analysis, so a rebuild from
the cache does not bootstrap again.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from generator.config import Settings
from generator.data.fer2013 import as_model_input
from generator.estimate import Cost
from generator.explain import faithfulness as faith
from generator.explain import scoring
from generator.explain.evidence import BETTER, UNCLEAR, WORSE
from generator.explain import trust_measures as measure
from generator.explain.class_average import face_maps, face_seeds
from generator.explain import methods as registry
from generator.explain.methods import NAMES
from generator.explain.methods.occlusion import NO_MEASURABLE_DROP, positions
from generator.explain.sanity import (PASS_BELOW, cascading_randomisation, final_similarity, fully_randomised,
                                      weight_layers)
from generator.explain.stability import stability
from generator.figures.trust import curves_figure, sanity_figure, std_figure
from generator.questions import q1, q3
from generator.stages import StageInputs

TITLE = ""
READS = ("trust", "q4", *registry.SECTIONS)  # its own, and those of the methods it scores
FIGURES = {"curves": "figures/trust/deletion_insertion.png", "lime_std": "figures/trust/lime_std.png"}
CURVE_KEYS = ("deletion", "insertion")
HIGHER_IS_BETTER = {"deletion": False, "insertion": True}
VERDICTS = (BETTER, WORSE, UNCLEAR)


def shown(settings: Settings) -> list[str]:
    """Every method the report shows, in the registry's order: question 1's, LIME (question 3) and question 4's."""
    return registry.ordered([*q1.shown(settings), "lime", settings.q4.method])


def evaluated(settings: Settings) -> list[str]:
    """The methods scored on the evaluation set; the rest (LIME) on the report faces only."""
    return [m for m in shown(settings) if not registry.method(m).report_faces_only]


def on_report_faces(settings: Settings) -> list[str]:
    return [m for m in shown(settings) if registry.method(m).report_faces_only]


def sanity_path(method: str) -> str:
    return f"figures/trust/sanity_{method}.png"


def cost(settings: Settings, faces: int, model: torch.nn.Module) -> Cost:
    """Each method's passes as it declares them, with the trust page's settings. On the evaluation set (at most
    ``faces * faces_per_class`` faces): every evaluated method on the fully randomised model, and those question 1
    does not compute on the trained one too; the deletion and insertion steps of each evaluated method and of the
    random orders. On the ``faces`` report faces: the randomisation cascade after each weight layer (question 1's
    maps of the trained model are reused; the other methods run on it too), LIME's curves and
    random orders, and ``lime_seeds - 1`` more LIME runs per face. (The part check on synthetic faces, 5 renders per
    face, and the bootstrap are left out.) Figures: one sanity panel per checked method, 2 curve panels and one
    spread map per report face."""
    t, keys = settings.trust, evaluated(settings)
    count = faces * t.faces_per_class
    in_q1 = set(q1.shown(settings))
    trained = registry.total_passes([m for m in keys if m not in in_q1], _trust_settings(settings))
    every = registry.total_passes(keys, _trust_settings(settings))
    layers = len(weight_layers(model))
    maps = _cost(every).scaled(layers * faces + count) + _cost(trained).scaled(count + faces)
    steps = -(-48 * 48 // t.pixels_per_step) + 1  # faces per curve: the start, then one per step
    curves = ((len(keys) + t.random_orders) * count
              + (len(on_report_faces(settings)) + t.random_orders) * faces) * len(CURVE_KEYS) * steps
    lime_runs = faces * (t.lime_seeds - 1) * q3.lime_passes(settings)
    return maps + Cost(forward=curves + lime_runs, panels=len(keys) + 2 + faces)


def _cost(passes: registry.Passes) -> Cost:
    return Cost(forward=passes.forward, gradient=passes.gradient, occlusion_runs=passes.occlusion_runs,
                occlusion_positions=passes.occlusion_positions)


def _trust_settings(settings: Settings) -> Settings:
    """The settings the trust page runs the methods with: occlusion's coarser grid (``Occlusion.for_trust``)."""
    return registry.method("occlusion").for_trust(settings)


def checked_methods(settings: Settings, keys) -> dict:
    """Each method of ``keys`` as f(model, images, targets) -> maps, with the trust page's settings, run on
    ``measure.CHUNK`` faces at a time."""
    return {key: measure.chunked(partial(registry.method(key).attribute,
                                         settings=registry.method(key).for_trust(settings), seed=settings.seed))
            for key in keys}


@dataclass(frozen=True)
class TrustResult:
    sanity: dict        # method -> SanityResult of the cascade on the report faces (LIME is not re-run per layer)
    mean_curves: dict   # method or "random" -> {"deletion": (steps + 1,), "insertion": ...}, mean over its faces
    lime_std: list      # per report face: LIME's per-pixel weight spread over the seeds
    numbers: dict       # what the page says: estimates, verdicts, counts (see ``_numbers``)


def _faithfulness(fast, faces: np.ndarray, targets: np.ndarray, maps: dict, methods, settings: Settings) -> dict:
    """Per face, each method's deletion and insertion curves and those of the random map (the mean of
    ``random_orders`` orders), all on the same faces: method -> {"deletion": (n, steps + 1), ...}."""
    t, seed = settings.trust, settings.seed
    orders = np.concatenate([measure.method_orders(maps, methods, seed),
                             measure.random_orders(len(faces), t.random_orders, seed)], axis=1)
    deletion, insertion = faith.curves_many(fast, faces / 255.0, targets, orders, t.pixels_per_step, t.imputation,
                                            seed)
    out = {m: {"deletion": deletion[:, j], "insertion": insertion[:, j]} for j, m in enumerate(methods)}
    k = len(methods)
    out["random"] = {"deletion": deletion[:, k:].mean(axis=1), "insertion": insertion[:, k:].mean(axis=1)}
    return out


def analyse(inputs: StageInputs) -> TrustResult:
    """The eager model serves gradients and randomised copies; the fast model every forward-only step."""
    model, fast, settings, progress = inputs.model, inputs.fast, inputs.settings, inputs.progress
    evaluation, t, seed = inputs.evaluation, settings.trust, settings.seed
    keys, in_q1 = evaluated(settings), set(q1.shown(settings))
    checked = checked_methods(settings, keys)
    x, y = as_model_input(evaluation.faces), torch.from_numpy(evaluation.targets)
    # Question 1's methods' maps of the evaluation set are question 1's (its class averages run on the same faces,
    # with SmoothGrad seeded per face); only the other methods' are computed here.
    q1_result = inputs.results["q1"]
    maps = dict(q1_result.evaluation_maps)
    for key in keys:
        if key not in in_q1:
            progress(f"trust: {key} of the evaluation set")
            maps[key] = checked[key](model, x, y)
    # The cascade (the figures) on the report faces, from question 1's maps; the verdict from the last model of the
    # cascade, every layer random, on the evaluation set: the whole cascade there would cost the layers times more.
    report_x, report_y = as_model_input(inputs.faces), torch.from_numpy(inputs.targets)
    cascade = cascading_randomisation(model, checked, report_x, report_y, seed, reference=q1_result.methods)
    randomised = fully_randomised(model, seed)
    # The same per-face SmoothGrad seeds as question 1's maps: a map differs from its reference by the model only.
    random_maps = face_maps(randomised, q1.seeded_methods(settings), evaluation.faces, evaluation.targets,
                            face_seeds(seed, evaluation.rows), settings.attribution.smoothgrad_samples,
                            lambda done: progress.count("trust: maps with every layer random", done, evaluation.n))
    for key in keys:
        if key not in in_q1:
            random_maps[key] = checked[key](randomised, x, y)
    final = {name: final_similarity(maps[name], random_maps[name]) for name in checked}

    lime_results = inputs.results["q3"].explanations
    report_maps = {"lime": np.stack([r.weight_map() for r in lime_results])}
    curves = {"evaluation": _faithfulness(fast, evaluation.faces, evaluation.targets, maps, keys, settings),
              "report": _faithfulness(fast, inputs.faces, inputs.targets, report_maps, on_report_faces(settings),
                                      settings)}

    stabilities = []
    for k, (face, target, first) in enumerate(zip(inputs.faces, inputs.targets, lime_results)):
        progress.count("trust: LIME stability", k, len(inputs.faces))
        weights = [first.weights] + [registry.method("lime").run(fast, face / 255.0, int(target), settings,
                                                                 seed + k + 1000 * j).weights
                                     for j in range(1, t.lime_seeds)]
        stabilities.append(stability(weights, first.segments, settings.lime.features))
    progress.count("trust: LIME stability", len(inputs.faces), len(inputs.faces))

    truth = None
    if inputs.data.synthetic and inputs.masks is not None:
        synthetic_seed = inputs.data.synthetic_seed
        truth = {**measure.ground_truth(fast, synthetic_seed, evaluation.rows, evaluation.targets,
                                        evaluation.masks, maps),
                 **measure.ground_truth(fast, synthetic_seed, inputs.rows, inputs.targets, inputs.masks,
                                        report_maps)}
    mean_curves = {m: {c: v[c].mean(axis=0) for c in CURVE_KEYS} for m, v in curves["evaluation"].items()}
    mean_curves.update({m: {c: curves["report"][m][c].mean(axis=0) for c in CURVE_KEYS}
                        for m in on_report_faces(settings)})
    numbers = _numbers(inputs, final, curves, stabilities, truth)
    return TrustResult(cascade, mean_curves, [s.pixel_std for s in stabilities], numbers)


def _numbers(inputs: StageInputs, final: dict, curves: dict, stabilities: list, truth: dict | None) -> dict:
    """Every number of the page as an estimate (mean, low, high, n), overall and per class, with the verdicts."""
    evaluation, seed = inputs.evaluation, inputs.settings.seed
    sets = {"evaluation": evaluation.targets, "report": inputs.targets}
    aucs = {name: {m: {c: measure.aucs(v[c]) for c in CURVE_KEYS} for m, v in faces.items()}
            for name, faces in curves.items()}
    methods = {}
    for m in shown(inputs.settings):
        face_set = "report" if registry.method(m).report_faces_only else "evaluation"
        targets, own, random = sets[face_set], aucs[face_set][m], aucs[face_set]["random"]
        row = {"set": face_set, "n": len(targets), "sanity": None}
        for c in CURVE_KEYS:
            row[c] = scoring.summary(own[c], targets, seed)
            row[f"random_{c}"] = scoring.summary(random[c], targets, seed)["all"]
            row[f"{c}_vs_random"] = scoring.against(own[c], random[c], HIGHER_IS_BETTER[c], seed)
        if m in final:
            rho, ssim = final[m]
            row["sanity"] = scoring.sanity(rho, targets, PASS_BELOW, seed)
            row["sanity"]["ssim"] = scoring.summary(ssim, targets, seed)["all"]
            row["sanity"]["flat"] = int(np.isnan(rho).sum())  # a constant map: no measurable change, no ranks
        if truth is not None:
            row.update({key: scoring.summary(truth[m][key], targets, seed)
                        for key in ("rma", "rma_lift", "hits", "pointing_lift", "agreement")})
            row.update({f"{key}_vs_chance": scoring.against(truth[m][key], truth[m]["chance"], True, seed)
                        for key in ("rma", "hits")})
        methods[m] = row
    random = {c: scoring.summary(aucs["evaluation"]["random"][c], evaluation.targets, seed) for c in CURVE_KEYS}
    chance = scoring.summary(truth["saliency"]["chance"], evaluation.targets, seed) if truth else None
    lime_stability = {key: scoring.summary([getattr(s, key) for s in stabilities], inputs.targets, seed)["all"]
                      for key in ("jaccard", "spearman")}
    return {"methods": methods, "random": random, "chance": chance, "stability": lime_stability,
            "stability_faces": [{"cls": int(c), "jaccard": s.jaccard, "spearman": s.spearman}
                                for c, s in zip(inputs.targets, stabilities)],
            "evaluation": {"n": evaluation.n, "asked": evaluation.asked, "counts": list(evaluation.counts),
                           "available": list(evaluation.available), "short": evaluation.short},
            "report_faces": len(inputs.targets)}


def figures(inputs: StageInputs, result: TrustResult) -> dict[str, bytes]:
    out = {sanity_path(m): sanity_figure(r.layers, r.spearman, r.ssim, PASS_BELOW) for m, r in result.sanity.items()}
    out[FIGURES["curves"]] = curves_figure({NAMES[m]: result.mean_curves[m] for m in shown(inputs.settings)},
                                           result.mean_curves["random"])
    out[FIGURES["lime_std"]] = std_figure(result.lime_std, inputs.targets.tolist())
    return out


def context(inputs: StageInputs, result: TrustResult) -> dict:
    numbers = result.numbers
    rows = []
    for m in shown(inputs.settings):
        row = dict(numbers["methods"][m], key=m, name=NAMES[m])
        if row["sanity"] is not None:
            row["sanity"] = dict(row["sanity"], figure=sanity_path(m))
        rows.append(row)
    return {
        "rows": rows, "by_method": {r["key"]: r for r in rows}, "random": numbers["random"],
        "chance": numbers["chance"], "ground_truth": numbers["chance"] is not None,
        "pass_below": PASS_BELOW, "figures": FIGURES, "evaluation": numbers["evaluation"],
        "report_faces": numbers["report_faces"], "imputation": inputs.settings.trust.imputation,
        "road_noise": faith.NOISE_STD,
        "stability": numbers["stability_faces"], "stability_mean": numbers["stability"],
        "sanity_verdicts": {kind: [r["name"] for r in rows if r["sanity"] and r["sanity"]["verdict"] == kind]
                            for kind in VERDICTS},
        "curve_verdicts": {c: {kind: [r["name"] for r in rows if r[f"{c}_vs_random"]["verdict"] == kind]
                               for kind in VERDICTS} for c in CURVE_KEYS},
        "chance_verdicts": {key: [r["name"] for r in rows if r.get(f"{key}_vs_chance", {}).get("verdict") == BETTER]
                            for key in ("rma", "hits")},
        "evaluated": [NAMES[m] for m in evaluated(inputs.settings)],
        "report_only": [NAMES[m] for m in on_report_faces(inputs.settings)],
        "occlusion_stride": inputs.settings.trust.sanity_occlusion_stride,
        "no_measurable_drop": NO_MEASURABLE_DROP,
        "q4_stride": inputs.settings.occlusion.stride,
        "tables": _class_tables(rows, numbers),
        "seeded": [NAMES[m] for m in shown(inputs.settings) if registry.method(m).seeded],
    }


def _class_tables(rows: list[dict], numbers: dict) -> dict:
    """The per-class breakdowns beside the figures: metric -> columns {"key", "name", "values" (per class)}, for
    the methods of the evaluation set (LIME has one report face per class: no per-class interval)."""
    evaluated = [r for r in rows if r["set"] == "evaluation"]

    def columns(metric: str) -> list[dict]:
        return [{"key": r["key"], "name": r["name"], "values": r[metric]["per_class"]} for r in evaluated]

    tables = {"sanity": [{"key": r["key"], "name": r["name"], "values": r["sanity"]["per_class"]}
                         for r in evaluated if r["sanity"]]}
    for c in CURVE_KEYS:
        tables[c] = columns(c) + [{"key": "random", "name": "", "values": numbers["random"][c]["per_class"]}]
    truth = numbers["chance"] is not None  # without ground truth the page shows no such table
    tables.update({metric: columns(metric) if truth else [] for metric in ("rma", "hits", "agreement")})
    return tables
