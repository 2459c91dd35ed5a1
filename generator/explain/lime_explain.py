"""LIME explanations with the ``lime`` package, seeded and batched, with superpixels sized for 48x48 faces.

Traps handled here (see marcotcr/lime's lime_image.py): the perturbation seed is fixed when the explainer is
built (``random_state``), so every image gets a new explainer with an explicit seed; lime turns a 2-D image into
RGB, so the classifier function turns it back; and the classifier function scores every sample of its batch.

lime builds its perturbed samples one at a time in a Python loop; ``explainer`` overrides only that method
(``data_labels``) with one array operation, drawing the same random masks from the same generator, so every
explanation equals the package's for the same seed (tested); the segmentation, the kernel, the feature selection
and the ridge fit are the package's own.

Hidden superpixels take the face's mean gray, not lime's default of each superpixel's own mean: SLIC segments
follow edges, so a segment that is all brow or all mouth would barely change under its own mean, and LIME
would find no signal where the model looks.
"""
from __future__ import annotations

import contextlib
import io

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# SLIC on a 48x48 face. sigma=1 smooths the sensor noise first, so segments follow the brows, eyes and mouth
# rather than noise; compactness is on lime's Lab scale (0-100): 8 follows edges yet keeps segments compact.
SLIC_SIGMA = 1.0


def classifier_fn(model: nn.Module, batch_size: int):
    """lime's classifier: (N, 48, 48, 3) images in [0, 1] -> (N, 7) probabilities, every sample scored."""
    def classify(images: np.ndarray) -> np.ndarray:
        gray = torch.from_numpy(np.ascontiguousarray(images[..., 0], dtype=np.float32)).unsqueeze(1)
        out = []
        with torch.inference_mode():
            for k in range(0, len(gray), batch_size):
                out.append(torch.softmax(model(gray[k:k + batch_size]).double(), dim=1))
        return torch.cat(out).numpy()
    return classify


def segmenter(segments: int, compactness: float, seed: int):
    from lime.wrappers.scikit_image import SegmentationAlgorithm
    return SegmentationAlgorithm("slic", n_segments=segments, compactness=compactness, sigma=SLIC_SIGMA,
                                 start_label=0, random_seed=seed)


def explainer(seed: int):
    """A ``LimeImageExplainer`` seeded with ``seed`` whose samples are built in one array operation."""
    from lime import lime_image

    class VectorisedExplainer(lime_image.LimeImageExplainer):
        def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10):
            # The same draw as lime_image.data_labels: one randint over all samples, the first row all ones.
            n_features = np.unique(segments).shape[0]
            data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
            data[0, :] = 1
            # lime hides segment z when column z is 0; segment ids past the columns are never hidden.
            shown = np.ones((num_samples, max(n_features, int(segments.max()) + 1)), bool)
            shown[:, :n_features] = data == 1
            images = np.where(shown[:, segments][..., None], image[None], fudged_image[None])
            return data, np.asarray(classifier_fn(images))  # the classifier batches the forward passes itself

    return VectorisedExplainer(random_state=seed)


@dataclass(frozen=True)
class LimeResult:
    segments: np.ndarray   # (48, 48) superpixel ids
    weights: np.ndarray    # (S,) the surrogate's weight of each superpixel for the target class
    score: float           # R^2 of the local linear surrogate on its samples
    local_pred: float      # the surrogate's prediction for the whole image
    probability: float     # the model's probability for the whole image

    def masks(self, features: int) -> tuple[np.ndarray, np.ndarray]:
        """(positive, negative) boolean masks of the ``features`` strongest superpixels of each sign."""
        order = np.argsort(-self.weights, kind="stable")
        positive = [s for s in order[:features] if self.weights[s] > 0]
        negative = [s for s in order[::-1][:features] if self.weights[s] < 0]
        return np.isin(self.segments, positive), np.isin(self.segments, negative)

    def weight_map(self) -> np.ndarray:
        return self.weights[self.segments]


def explain(model: nn.Module, face: np.ndarray, target: int, seed: int, num_samples: int = 1000,
            segments: int = 50, compactness: float = 8.0, batch_size: int = 32) -> LimeResult:
    """Explain ``target`` for one face (48, 48) in [0, 1] with a fresh explainer seeded with ``seed``."""
    with contextlib.redirect_stderr(io.StringIO()):  # lime 0.2 draws a tqdm bar; progress belongs to the CLI
        explanation = explainer(seed).explain_instance(
            face.astype(np.float64), classifier_fn(model, batch_size), labels=(target,), top_labels=None,
            hide_color=float(face.mean()), num_features=10_000, num_samples=num_samples, batch_size=batch_size,
            segmentation_fn=segmenter(segments, compactness, seed), random_seed=seed)
    weights = np.zeros(explanation.segments.max() + 1)
    for segment, weight in explanation.local_exp[target]:
        weights[segment] = weight
    probability = float(classifier_fn(model, 1)(np.repeat(face[None, :, :, None], 3, axis=3))[0, target])
    # lime 0.2 keeps the score and local prediction of the last label explained: ours is the only one.
    score, local_pred = explanation.score, explanation.local_pred
    if isinstance(score, dict):  # newer lime: per label
        score, local_pred = score[target], local_pred[target]
    return LimeResult(explanation.segments, weights, float(score), float(np.ravel(local_pred)[0]), probability)
