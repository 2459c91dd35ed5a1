"""A .h5 file laid out as Keras 2.0 wrote it with ``model.save``, for the legacy-file test.

Keras 2 cannot be installed beside Keras 3, so the file is written with h5py: root attributes ``keras_version``,
``backend``, ``model_config`` (the architecture as Keras 2's JSON: a functional "Model" whose layers carry
``inbound_nodes`` as ``[[[name, 0, 0, {}], ...]]``, initialisers as ``VarianceScaling`` dicts, an L1L2
regulariser) and ``training_config``; the weights under ``model_weights/<layer>/<layer>/<weight>:0`` with the
``layer_names`` and ``weight_names`` attributes Keras 2 wrote and Keras 3's legacy reader
(``keras/src/legacy/saving/legacy_h5_format.py``) reads back in layer order.

The architecture is the FER2013 mini-Xception of oarriaga/face_classification (``src/models/cnn.py``) with one
residual module instead of four, at 64x64x1, with Keras 2's automatic layer names and its separate
``Activation('softmax', name='predictions')``.
"""
from __future__ import annotations

import json

import h5py
import numpy as np

GLOROT = {"class_name": "VarianceScaling",
          "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
ZEROS, ONES = {"class_name": "Zeros", "config": {}}, {"class_name": "Ones", "config": {}}
L2 = {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.009999999776482582}}  # l2(0.01) in float32

# (name, Keras 2 class, its own config, inbound layer names). Names follow the order the layers were built in
# (the residual conv2d_2 and its batch_normalization_2 before the separable convs, as in cnn.py). The list is in the
# order Keras 2 kept ``model.layers``, which is the order of the weights in the file: by depth from the output,
# deepest first, ties by first visit in a depth-first walk from the output (keras/engine/topology.py, Container).
# So batch_normalization_4 (depth 5, visited before the residual branch) precedes conv2d_2 (depth 5), and
# max_pooling2d_1 precedes batch_normalization_2 (both depth 4).
MINI_XCEPTION = [
    ("conv2d_1", "Conv2D", {"filters": 8, "kernel_size": [3, 3], "use_bias": False, "l2": True}, ["input_1"]),
    ("batch_normalization_1", "BatchNormalization", {}, ["conv2d_1"]),
    ("activation_1", "Activation", {"activation": "relu"}, ["batch_normalization_1"]),
    ("separable_conv2d_1", "SeparableConv2D", {"filters": 16, "l2": True}, ["activation_1"]),
    ("batch_normalization_3", "BatchNormalization", {}, ["separable_conv2d_1"]),
    ("activation_2", "Activation", {"activation": "relu"}, ["batch_normalization_3"]),
    ("separable_conv2d_2", "SeparableConv2D", {"filters": 16, "l2": True}, ["activation_2"]),
    ("batch_normalization_4", "BatchNormalization", {}, ["separable_conv2d_2"]),
    ("conv2d_2", "Conv2D", {"filters": 16, "kernel_size": [1, 1], "strides": [2, 2], "padding": "same",
                            "use_bias": False}, ["activation_1"]),
    ("max_pooling2d_1", "MaxPooling2D", {}, ["batch_normalization_4"]),
    ("batch_normalization_2", "BatchNormalization", {}, ["conv2d_2"]),
    ("add_1", "Add", {}, ["max_pooling2d_1", "batch_normalization_2"]),
    ("conv2d_3", "Conv2D", {"filters": 7, "kernel_size": [3, 3], "padding": "same", "use_bias": True}, ["add_1"]),
    ("global_average_pooling2d_1", "GlobalAveragePooling2D", {}, ["conv2d_3"]),
    ("predictions", "Activation", {"activation": "softmax"}, ["global_average_pooling2d_1"]),
]
INPUT_SHAPE = (64, 64, 1)


# tf.keras 2.x (TensorFlow 2.3 on, and tf_keras) also wrote the plain conv's keys into every SeparableConv2D config;
# Keras 3's SeparableConv2D refuses them. A file saved that way is what most students trained after 2020 have.
TF_KERAS_SEPARABLE_KEYS = {"groups": 1, "kernel_initializer": GLOROT, "kernel_regularizer": None,
                           "kernel_constraint": None}


def _layer_config(name: str, kind: str, spec: dict, tf_keras: bool = False) -> dict:
    base = {"name": name, "trainable": True}
    regulariser = L2 if spec.get("l2") else None
    if kind == "Conv2D":
        return {**base, "filters": spec["filters"], "kernel_size": spec["kernel_size"],
                "strides": spec.get("strides", [1, 1]), "padding": spec.get("padding", "valid"),
                "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear",
                "use_bias": spec["use_bias"], "kernel_initializer": GLOROT, "bias_initializer": ZEROS,
                "kernel_regularizer": regulariser, "bias_regularizer": None, "activity_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None}
    if kind == "SeparableConv2D":
        return {**base, "filters": spec["filters"], "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                "data_format": "channels_last", "depth_multiplier": 1, "activation": "linear", "use_bias": False,
                "depthwise_initializer": GLOROT, "pointwise_initializer": GLOROT, "bias_initializer": ZEROS,
                "depthwise_regularizer": None, "pointwise_regularizer": None, "bias_regularizer": None,
                "activity_regularizer": None, "depthwise_constraint": None, "pointwise_constraint": None,
                "bias_constraint": None, **(TF_KERAS_SEPARABLE_KEYS if tf_keras else {})}
    if kind == "BatchNormalization":
        return {**base, "axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
                "beta_initializer": ZEROS, "gamma_initializer": ONES, "moving_mean_initializer": ZEROS,
                "moving_variance_initializer": ONES, "beta_regularizer": None, "gamma_regularizer": None,
                "beta_constraint": None, "gamma_constraint": None}
    if kind == "Activation":
        return {**base, "activation": spec["activation"]}
    if kind == "MaxPooling2D":
        return {**base, "pool_size": [3, 3], "padding": "same", "strides": [2, 2], "data_format": "channels_last"}
    if kind == "GlobalAveragePooling2D":
        return {**base, "data_format": "channels_last"}
    return base  # Add


def model_config(tf_keras: bool = False) -> dict:
    layers = [{"name": "input_1", "class_name": "InputLayer", "inbound_nodes": [],
               "config": {"batch_input_shape": [None, *INPUT_SHAPE], "dtype": "float32", "sparse": False,
                          "name": "input_1"}}]
    for name, kind, spec, inputs in MINI_XCEPTION:
        layers.append({"name": name, "class_name": kind, "config": _layer_config(name, kind, spec, tf_keras),
                       "inbound_nodes": [[[source, 0, 0, {}] for source in inputs]]})
    return {"class_name": "Model", "config": {"name": "model_1", "layers": layers,
                                              "input_layers": [["input_1", 0, 0]],
                                              "output_layers": [["predictions", 0, 0]]}}


def weight_shapes(kind: str, spec: dict, channels_in: int) -> list[tuple[str, tuple]]:
    """Keras 2's weight names and shapes of one layer, in the order it saved them."""
    if kind == "Conv2D":
        shapes = [("kernel", (*spec["kernel_size"], channels_in, spec["filters"]))]
        return shapes + ([("bias", (spec["filters"],))] if spec["use_bias"] else [])
    if kind == "SeparableConv2D":
        return [("depthwise_kernel", (3, 3, channels_in, 1)),
                ("pointwise_kernel", (1, 1, channels_in, spec["filters"]))]
    if kind == "BatchNormalization":
        return [(w, (channels_in,)) for w in ("gamma", "beta", "moving_mean", "moving_variance")]
    return []


def random_weights(seed: int = 0) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Layer name -> [(weight name, float32 array)], with BatchNorm statistics away from 0 and 1."""
    rng = np.random.default_rng(seed)
    channels = {"input_1": INPUT_SHAPE[-1]}
    weights = {}
    for name, kind, spec, inputs in MINI_XCEPTION:
        channels_in = channels[inputs[0]]
        channels[name] = spec.get("filters", channels_in)
        arrays = []
        for weight, shape in weight_shapes(kind, spec, channels_in):
            if weight in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, shape)
            elif weight in ("beta", "moving_mean", "bias"):
                value = rng.normal(0.0, 0.3, shape)
            else:
                value = rng.normal(0.0, np.sqrt(2.0 / (np.prod(shape[:-1]))), shape)
            arrays.append((weight, value.astype(np.float32)))
        weights[name] = arrays
    return weights


def write(path, weights: dict[str, list[tuple[str, np.ndarray]]], keras_version: str = "2.0.5") -> None:
    """``keras_version`` 2.3 and up (tf.keras) writes the separable convs' configs with tf.keras's extra keys."""
    tf_keras = tuple(int(v) for v in keras_version.split(".")[:2]) >= (2, 3)
    training = {"optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                                                      "decay": 0.0, "epsilon": 1e-08}},
                "loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
                "loss_weights": None}
    with h5py.File(path, "w") as archive:
        archive.attrs["keras_version"] = keras_version.encode()
        archive.attrs["backend"] = b"tensorflow"
        archive.attrs["model_config"] = json.dumps(model_config(tf_keras)).encode()
        archive.attrs["training_config"] = json.dumps(training).encode()
        group = archive.create_group("model_weights")
        names = ["input_1"] + [name for name, *_ in MINI_XCEPTION]
        group.attrs["layer_names"] = [name.encode() for name in names]
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = keras_version.encode()
        for name in names:
            layer_group = group.create_group(name)
            arrays = weights.get(name, [])
            layer_group.attrs["weight_names"] = [f"{name}/{weight}:0".encode() for weight, _ in arrays]
            for weight, value in arrays:
                layer_group.create_dataset(f"{name}/{weight}:0", data=value)
