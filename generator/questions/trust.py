"""The trust page: how far each explanation can be trusted, measured, for every method of the report. A stage (see
generator/stages.py) that reads the results of questions 1, 3 and 4."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.config import OcclusionSettings, Settings
from generator.data import synth
from generator.data.fer2013 import as_model_input
from generator.estimate import Cost
from generator.explain import faithfulness as faith
from generator.explain import groundtruth as gt
from generator.explain.lime_explain import explain
from generator.explain.methods import GRADIENT_METHODS, METHOD_NAMES as NAMES
from generator.explain.occlusion import occlusion
from generator.explain.saliency import normalise
from generator.explain.sanity import PASS_BELOW, SanityResult, cascading_randomisation, weight_layers
from generator.explain.stability import stability
from generator.figures.trust import curves_figure, sanity_figure, std_figure
from generator.questions import q1, q3, q4
from generator.stages import StageInputs

TITLE = ""
READS = ("trust", "attribution", "lime", "occlusion")  # its own, and those of the results it scores
METHODS = tuple(NAMES)
FIGURES = {"curves": "figures/trust/deletion_insertion.png", "lime_std": "figures/trust/lime_std.png"}


def sanity_path(method: str) -> str:
    return f"figures/trust/sanity_{method}.png"


def occlusion_importance(heatmap: np.ndarray, baseline: float, size: int = 48) -> np.ndarray:
    """How much the box at each position lowers P(class), on the 48x48 grid (nearest for a coarse stride)."""
    drop = np.clip(baseline - heatmap, 0, None)
    count = heatmap.shape[0]
    stride = -(-size // count)  # the box centres are 0, stride, 2 * stride, ...
    index = np.minimum((np.arange(size) + stride // 2) // stride, count - 1)  # each pixel's nearest centre
    return drop[np.ix_(index, index)]


def occlusion_method(settings: OcclusionSettings, stride: int):
    """Occlusion as f(model, images, targets) -> maps, for the randomisation check (a coarser stride)."""
    def method(model, images, targets):
        maps = []
        for face, target in zip(images[:, 0].numpy(), targets.tolist()):
            r = occlusion(model, face, target, box=settings.box, stride=stride, fill=settings.fill)
            maps.append(occlusion_importance(r.heatmap, r.baseline))
        return normalise(np.stack(maps))
    return method


def cost(settings: Settings, faces: int, model: torch.nn.Module) -> Cost:
    """The randomisation check runs question 1's gradient methods and a coarse occlusion on the trained model and
    after each weight layer's randomisation; deletion and insertion run every method's pixel order and the random
    ones, a face per step; the stability scores add ``lime_seeds - 1`` LIME runs per face. (The part check on
    synthetic faces, 5 faces each, is left out.) Figures: one sanity panel per checked method, 2 curve panels and
    one standard-deviation map per face."""
    t = settings.trust
    checks = Cost(gradient=faces * q1.gradient_passes(settings.attribution), occlusion_runs=faces,
                  occlusion_positions=faces * q4.positions(t.sanity_occlusion_stride))
    randomised = len(weight_layers(model)) + 1  # the trained model, then one more layer randomised each time
    steps = -(-48 * 48 // t.pixels_per_step) + 1  # faces per curve: the start, then one per step
    curves = (len(METHODS) + t.random_orders) * faces * 2 * steps  # deletion and insertion
    stability = faces * (t.lime_seeds - 1) * q3.lime_passes(settings.lime)
    sanity_panels = len(GRADIENT_METHODS) + 1  # the gradient methods and occlusion
    return checks.scaled(randomised) + Cost(forward=curves + stability, panels=sanity_panels + 2 + faces)


@dataclass(frozen=True)
class TrustResult:
    sanity: dict          # method -> SanityResult (LIME is not re-run per layer: see the page)
    curves: dict          # method -> list of Curves per face; "random" -> the reference
    stability: list       # per face: Stability of LIME over seeds
    ground_truth: dict | None  # method -> {"rma": [...], "chance": [...], "hits": [...], "agreement": [...]}
    part_drops: list | None    # per expressive face: PartDrops


def analyse(inputs: StageInputs) -> TrustResult:
    """The eager model serves gradients and randomised copies; the fast model every forward-only step. Progress
    counts the faces of the LIME stability runs, the longest loop of the build."""
    model, fast, settings, faces, targets = inputs.model, inputs.fast, inputs.settings, inputs.faces, inputs.targets
    gradient_methods = q1.methods_for(model, settings.attribution, settings.seed)[0]
    gradient_maps = inputs.results["q1"].methods
    lime_results = inputs.results["q3"].explanations
    occlusion_results = inputs.results["q4"].occlusions
    parts, rows, progress = inputs.masks, inputs.rows, inputs.progress
    synthetic_seed = inputs.data.synthetic_seed if inputs.data.synthetic else None
    t = settings.trust
    x = as_model_input(faces)
    targets_t = torch.from_numpy(targets)
    checked = dict(gradient_methods, occlusion=occlusion_method(settings.occlusion, t.sanity_occlusion_stride))
    sanity = cascading_randomisation(model, checked, x, targets_t, settings.seed)

    maps = dict(gradient_maps)
    maps["lime"] = np.stack([r.weight_map() for r in lime_results])
    maps["occlusion"] = np.stack([occlusion_importance(r.heatmap, r.baseline) for r in occlusion_results])
    orders = np.stack([np.concatenate([[faith.pixel_order(maps[m][k], settings.seed) for m in METHODS],
                                       faith.random_orders(settings.seed + k, t.random_orders)])
                       for k in range(len(faces))])  # (faces, methods + random orders, pixels)
    deletion, insertion = faith.curves_many(fast, faces / 255.0, targets, orders, t.pixels_per_step, t.imputation,
                                            settings.seed)
    curves = {m: [faith.Curves(deletion[k, j], insertion[k, j]) for k in range(len(faces))]
              for j, m in enumerate(METHODS)}
    curves["random"] = [faith.Curves(deletion[k, len(METHODS):].mean(axis=0), insertion[k, len(METHODS):].mean(axis=0))
                        for k in range(len(faces))]

    stabilities = []
    for k, (face, target, first) in enumerate(zip(faces, targets, lime_results)):
        progress.count("trust: LIME stability", k, len(faces))
        weights = [first.weights] + [
            explain(fast, face / 255.0, int(target), seed=settings.seed + k + 1000 * j,
                    num_samples=settings.lime.num_samples, segments=settings.lime.segments,
                    compactness=settings.lime.compactness, batch_size=settings.lime.batch_size).weights
            for j in range(1, t.lime_seeds)]
        stabilities.append(stability(weights, first.segments, settings.lime.features))
    progress.count("trust: LIME stability", len(faces), len(faces))

    ground_truth = drops = None
    if parts is not None and synthetic_seed is not None:
        expressive = [k for k, c in enumerate(targets) if synth.DECISIVE_PARTS[int(c)]]
        drops = {k: gt.part_drops(fast, synthetic_seed, int(rows[k]), int(targets[k])) for k in expressive}
        ground_truth = {}
        for m in METHODS:
            masks = {k: gt.decisive_mask(parts[k], int(targets[k])) for k in expressive}
            ground_truth[m] = {
                "rma": [gt.relevance_mass_accuracy(maps[m][k], masks[k]) for k in expressive],
                "chance": [float(masks[k].mean()) for k in expressive],
                "hits": [gt.pointing_hit(maps[m][k], masks[k]) for k in expressive],
                "agreement": [gt.part_rank_agreement(maps[m][k], parts[k], drops[k]) for k in expressive],
            }
        drops = [drops[k] for k in expressive]
    return TrustResult(sanity, curves, stabilities, ground_truth, drops)


def figures(inputs: StageInputs, result: TrustResult) -> dict[str, bytes]:
    out = {sanity_path(m): sanity_figure(r.layers, r.spearman, r.ssim, PASS_BELOW) for m, r in result.sanity.items()}
    out[FIGURES["curves"]] = curves_figure({NAMES[m]: result.curves[m] for m in METHODS}, result.curves["random"])
    out[FIGURES["lime_std"]] = std_figure([s.pixel_std for s in result.stability], inputs.targets.tolist())
    return out


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def context(inputs: StageInputs, result: TrustResult) -> dict:
    random_del = float(np.mean([c.deletion_auc for c in result.curves["random"]]))
    random_ins = float(np.mean([c.insertion_auc for c in result.curves["random"]]))
    rows = []
    for m in METHODS:
        sanity: SanityResult | None = result.sanity.get(m)
        row = {"key": m, "name": NAMES[m],
               "sanity": None if sanity is None else {"final": sanity.final_spearman, "passed": sanity.passed,
                                                      "ssim": float(sanity.ssim[-1].mean()),
                                                      "figure": sanity_path(m)},
               "deletion": float(np.mean([c.deletion_auc for c in result.curves[m]])),
               "insertion": float(np.mean([c.insertion_auc for c in result.curves[m]]))}
        row["faithful"] = row["deletion"] < random_del and row["insertion"] > random_ins
        if result.ground_truth is not None:
            g = result.ground_truth[m]
            chance = float(np.mean(g["chance"]))
            row["rma"], row["rma_lift"] = _mean(g["rma"]), _mean(g["rma"]) / chance if chance else None
            row["pointing"], row["pointing_lift"] = _mean(g["hits"]), _mean(g["hits"]) / chance if chance else None
            row["agreement"] = _mean(g["agreement"])
        rows.append(row)
    by = {r["key"]: r for r in rows}
    stab = [{"cls": c, "jaccard": s.jaccard, "spearman": s.spearman}
            for c, s in zip(inputs.targets.tolist(), result.stability)]
    return {
        "rows": rows, "by_method": by, "random_deletion": random_del, "random_insertion": random_ins,
        "pass_below": PASS_BELOW, "figures": FIGURES, "stability": stab, "road_noise": faith.NOISE_STD,
        "stability_mean": {"jaccard": float(np.mean([s["jaccard"] for s in stab])),
                           "spearman": float(np.mean([s["spearman"] for s in stab]))},
        "ground_truth": result.ground_truth is not None,
        "chance": float(np.mean(result.ground_truth["saliency"]["chance"])) if result.ground_truth else None,
        "passed": [r["name"] for r in rows if r["sanity"] and r["sanity"]["passed"]],
        "failed": [r["name"] for r in rows if r["sanity"] and not r["sanity"]["passed"]],
        "best_deletion": min(rows, key=lambda r: r["deletion"])["name"],
        "best_insertion": max(rows, key=lambda r: r["insertion"])["name"],
    }

