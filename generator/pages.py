"""The parts of the page context that no stage computes: the model, the data, the image set and the inputs'
hashes. Each stage's own numbers come from its ``context`` function (generator/questions/)."""
from __future__ import annotations

from generator.config import Settings
from generator.imageset import ImageSet
from generator.inputs import DataInputs
from generator.models.load import LoadedModel
from generator.site.strings import CLASS_NAMES

NOTE_TEXT = {
    "below_confidence": ("no correct image reached the confidence threshold; the most confident correct one is shown",
                         "沒有答對的影像達到信心門檻，改用信心最高的答對影像"),
    "none_correct": ("the model classifies no validation image of this class correctly; the image with the highest "
                     "probability of the class is shown", "模型在驗證集中沒有答對任何這一類的影像，改用該類別機率最高的影像"),
    "not_in_validation": ("the validation split has no image of this class; a training image is shown",
                          "驗證集中沒有這一類的影像，改用訓練集的影像"),
    "label_differs": ("the configured row is labelled with another class", "設定的列標記為其他類別"),
}


def image_set_context(data: DataInputs, images: ImageSet, files: dict) -> dict:
    from generator.figures.common import face_png  # matplotlib: imported only once the inputs are known good
    items = []
    for c, position in enumerate(images.positions):
        path = f"figures/images/class_{c}.png"
        files[path] = face_png(data.dataset.images[position])
        kinds = [kind for cls, kind in images.notes if cls == c]  # a class can fall back twice
        en = "; ".join(NOTE_TEXT[kind][0] for kind in kinds)
        zh = "；".join(NOTE_TEXT[kind][1] for kind in kinds)
        items.append({"cls": c, "name_en": CLASS_NAMES["en"][c], "name_zh": CLASS_NAMES["zh-TW"][c],
                      "thumbnail": path, "row": int(images.rows[c]), "probability": float(images.probabilities[c]),
                      "note_en": f"{CLASS_NAMES['en'][c]}: {en}." if en else "",
                      "note_zh": f"{CLASS_NAMES['zh-TW'][c]}：{zh}。" if zh else ""})
    return {"faces": items}


def report_context(settings: Settings, loaded: LoadedModel, data: DataInputs, images: ImageSet, val_accuracy: float,
                   files: dict) -> dict:
    """The model, data, image-set and reproducibility parts of the context; adds the faces' thumbnails to ``files``."""
    model_file = "demo_cnn.pt (bundled)" if not settings.model.path else loaded.path.name
    imageset = image_set_context(data, images, files)
    imageset["rule_en"], imageset["rule_zh"] = rule_text(settings)
    return {
        "model": {"description": loaded.description, "file": model_file, "output": settings.model.output,
                  "parameters": sum(p.numel() for p in loaded.model.parameters()), "val_accuracy": val_accuracy},
        "data": {"description_en": data.description_en, "description_zh": data.description_zh,
                 "rows": data.total_rows, "validation": len(data.validation), "synthetic": data.synthetic,
                 "split_rule_en": data.split_rule_en, "split_rule_zh": data.split_rule_zh},
        "imageset": imageset,
        "repro": {"inputs": [{"name_en": "Model", "name_zh": "模型", "file": model_file, "sha256": loaded.sha256},
                             {"name_en": "Data", "name_zh": "資料", "file": data.file, "sha256": data.sha256}]},
    }


def rule_text(settings: Settings) -> tuple[str, str]:
    if settings.images.indices:
        rows = ", ".join(map(str, settings.images.indices))
        return f"The rows are fixed in the settings: {rows}.", f"影像的列號由設定指定：{rows}。"
    t = settings.images.min_confidence
    return (f"Each is the first validation image of its class that the model classifies correctly with a probability "
            f"of at least {t:.2f}.", f"每個類別取驗證集中第一張被模型正確分類、且機率至少 {t:.2f} 的影像。")
