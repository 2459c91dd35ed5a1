"""The explanation methods of the report, in the order the pages and figures show them. The display names are
the methods' own names, the same in both languages."""
METHOD_NAMES = {"saliency": "Saliency", "smoothgrad": "SmoothGrad", "integrated_gradients": "Integrated Gradients",
                "gradcam": "Grad-CAM", "lime": "LIME", "occlusion": "Occlusion"}
GRADIENT_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "gradcam")  # question 1's four
