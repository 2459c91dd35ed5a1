"""Keras models for the tests, built with fixed seeds: the course-homework Sequential at 48x48 and a small
Xception-style functional model at 64x64. Import it only where keras is installed (the test modules skip first)."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from generator.models.keras_files import import_keras

keras = import_keras("tests")
layers = keras.layers
# Keras 3.15's torch backend calls np.array(tensor) in saving and set_weights, which numpy 2 flags; not ours to fix.
NUMPY2_WARNING = "ignore:__array__ implementation doesn't accept a copy:DeprecationWarning"


@contextlib.contextmanager
def _seeded(seed: int, floatx: str = "float32"):
    """Layers built in ``floatx``. keras.utils.set_random_seed seeds Python's, numpy's and torch's global
    generators, and Keras keeps its default dtype policy globally: give all of them back after."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    kept_floatx, kept_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(floatx)  # the policy, once read, no longer follows floatx
    try:
        with torch.random.fork_rng():
            keras.utils.set_random_seed(seed)
            yield
    finally:
        keras.config.set_floatx(kept_floatx)
        keras.config.set_dtype_policy(kept_policy)
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _trained_looking_batchnorm(model, seed: int) -> None:
    """Statistics and scales away from 0 and 1, so that inference-mode BatchNorm is tested for real."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.5, n),
                               rng.uniform(0.5, 2.0, n)])


def sequential_model(floatx: str = "float32"):
    """The course-homework shape: conv, BatchNorm, max-pool, Dense, and a Dense softmax at the end."""
    with _seeded(11, floatx):
        model = keras.Sequential([
            keras.Input((48, 48, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            layers.BatchNormalization(name="bn1"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(16, 3, padding="same", name="c2"),
            layers.BatchNormalization(name="bn2"),
            layers.Activation("relu", name="relu2"),
            layers.MaxPooling2D(name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(32, activation="relu", name="fc"),
            layers.Dense(7, activation="softmax", name="out"),
        ])
        _trained_looking_batchnorm(model, 11)
    return model


def functional_model(floatx: str = "float32", end: str = "activation"):
    """The small Xception-style shape at 64x64: separable and depthwise convs, a strided 1x1 residual, an Add,
    a class conv, global pooling and a separate softmax layer (``end``: "activation", "softmax_layer", "none")."""
    with _seeded(12, floatx):
        inputs = keras.Input((64, 64, 1))
        x = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = layers.Activation("relu", name="stem_relu")(x)
        residual = layers.Conv2D(16, 1, strides=2, padding="same", name="res")(x)
        x = layers.SeparableConv2D(16, 3, padding="same", name="sep")(x)
        x = layers.BatchNormalization(name="sep_bn")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
        x = layers.Add(name="add")([x, residual])
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
        x = layers.Conv2D(7, 3, padding="same", name="cls")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        if end == "activation":
            x = layers.Activation("softmax", name="predictions")(x)
        elif end == "softmax_layer":
            x = layers.Softmax(name="predictions")(x)
        model = keras.Model(inputs, x)
        _trained_looking_batchnorm(model, 12)
    return model


BUILDERS = {"sequential": sequential_model, "functional": functional_model}
CASES = [(kind, suffix) for kind in BUILDERS for suffix in (".h5", ".keras")]


def faces(model, count: int = 3, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    height, width, channels = model.input_shape
    return torch.rand(count, channels, height, width, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def keras_twin(fer_cnn):
    """The same network as a ``generator.models.cnn.FerCNN`` (the demo CNN, say) written as a Keras Sequential
    at 48x48x1, with its weights: conv kernels (out, in, h, w) -> (h, w, in, out), BatchNorm's four arrays, and
    the first Dense's rows reordered from PyTorch's (channel, row, column) flattening to Keras's (row, column,
    channel). It ends in a Dense softmax, as course homework does."""
    def array(tensor):
        return tensor.detach().double().numpy()

    stack, weights, size = [keras.Input((48, 48, 1))], [], 48
    for k, module in enumerate(fer_cnn.features):
        kind = type(module).__name__
        if kind == "Conv2d":
            stack.append(layers.Conv2D(module.out_channels, 3, padding="same", use_bias=False, name=f"conv{k}"))
            weights.append([array(module.weight).transpose(2, 3, 1, 0)])
        elif kind == "BatchNorm2d":
            stack.append(layers.BatchNormalization(epsilon=module.eps, name=f"bn{k}"))
            weights.append([array(module.weight), array(module.bias), array(module.running_mean),
                            array(module.running_var)])
        elif kind == "ReLU":
            stack.append(layers.Activation("relu", name=f"relu{k}"))
        elif kind == "MaxPool2d":
            stack.append(layers.MaxPooling2D(2, name=f"pool{k}"))
            size //= 2
    hidden, scores = [m for m in fer_cnn.classifier if type(m).__name__ == "Linear"]
    channels = hidden.in_features // (size * size)
    stack += [layers.Flatten(name="flatten"), layers.Dense(hidden.out_features, activation="relu", name="fc"),
              layers.Dense(scores.out_features, activation="softmax", name="predictions")]
    first = array(hidden.weight).reshape(-1, channels, size, size).transpose(2, 3, 1, 0).reshape(hidden.in_features, -1)
    weights += [[first, array(hidden.bias)], [array(scores.weight).T, array(scores.bias)]]
    model = keras.Sequential(stack)
    for layer, arrays in zip([layer for layer in model.layers if layer.weights], weights):
        layer.set_weights(arrays)
    return model


def mini_xception(modules: int = 4, size: int = 64, seed: int = 13):
    """The FER2013 mini-Xception of oarriaga/face_classification (src/models/cnn.py) in Keras 3's API: two plain
    convs, ``modules`` residual modules (separable convs, a strided 1x1 residual, max-pooling, Add), a class conv,
    global average pooling and a separate softmax layer, Keras's automatic layer names."""
    with _seeded(seed):
        inputs = keras.Input((size, size, 1))
        x = inputs
        for _ in range(2):
            x = layers.Conv2D(8, 3, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        for filters in (16, 32, 64, 128)[:modules]:
            residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
            residual = layers.BatchNormalization()(residual)
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
            x = layers.add([x, residual])
        x = layers.Conv2D(7, 3, padding="same")(x)
        x = layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, layers.Activation("softmax", name="predictions")(x))
        _trained_looking_batchnorm(model, seed)
    return model


def trap_padding_model():
    """Keras's asymmetric "same" padding everywhere: even kernels, strides 2 on odd and even sides, a depth
    multiplier, and max and average pooling with the odd pixel padded at the end, the max-pooling over a map
    that is negative everywhere (so a zero pad, not -inf, would change its output)."""
    with _seeded(14):
        inputs = keras.Input((47, 47, 1))
        x = layers.Conv2D(6, 4, strides=2, padding="same", name="conv_even")(inputs)        # 47 -> 24
        x = layers.BatchNormalization(name="bn")(x)
        x = layers.DepthwiseConv2D(2, strides=2, padding="same", depth_multiplier=2, name="dw_even")(x)  # 12
        x = layers.SeparableConv2D(8, 4, padding="same", depth_multiplier=2, name="sep_even")(x)
        x = layers.Activation("relu", name="relu")(x)
        x = layers.Rescaling(-1.0, offset=-0.5, name="negative")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool_same")(x)          # 12 -> 6
        x = layers.AveragePooling2D(3, strides=2, padding="same", name="avg_same")(x)       # 6 -> 3
        x = layers.Conv2D(7, 2, padding="same", name="cls")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        model = keras.Model(inputs, layers.Activation("softmax", name="predictions")(x))
        _trained_looking_batchnorm(model, 14)
    return model


def trap_flatten_model():
    """A conv, Flatten, then Dense: the Dense's rows are in Keras's (row, column, channel) order."""
    with _seeded(15):
        return keras.Sequential([keras.Input((12, 12, 1)), layers.Conv2D(5, 3, strides=2, name="conv"),
                                 layers.Flatten(name="flatten"), layers.Dense(7, activation="softmax", name="out")])


def zoo_model():
    """Every other layer the translation covers, in one functional model: the preprocessing layers, padding and
    cropping, the activation arguments and layers, branches merged by Concatenate and Multiply (squeeze and
    excite), Reshape and a Dense on a sequence, the layers that do nothing at inference."""
    with _seeded(16):
        inputs = keras.Input((40, 40, 1))
        x = layers.Rescaling(2.0, offset=-1.0)(inputs)
        x = layers.Normalization(mean=0.1, variance=0.5)(x)
        x = layers.Resizing(32, 32)(x)
        x = layers.ZeroPadding2D(((1, 2), (0, 1)))(x)
        x = layers.Conv2D(6, 3, activation="relu6")(x)
        x = layers.Cropping2D(((1, 0), (2, 1)))(x)
        a = layers.Conv2D(4, 1, activation="elu")(x)
        b = layers.Conv2D(4, 3, padding="same", dilation_rate=2, activation="selu")(x)
        x = layers.Concatenate()([a, b])
        x = layers.PReLU(shared_axes=[1, 2], name="prelu")(x)
        x = layers.LeakyReLU(negative_slope=0.1)(x)
        x = layers.ELU(alpha=0.7)(x)
        x = layers.ReLU(max_value=4.0, negative_slope=0.05, threshold=0.1)(x)
        x = layers.SpatialDropout2D(0.3)(x)
        x = layers.GaussianNoise(0.1)(x)
        squeeze = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Multiply()([x, layers.Dense(8, activation="sigmoid")(squeeze)])
        x = layers.Conv2D(8, 3, activation="tanh")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.BatchNormalization()(x)
        x = layers.AveragePooling2D(2)(x)
        pooled = layers.GlobalMaxPooling2D()(x)
        sequence = layers.Dense(6, activation="leaky_relu")(layers.Reshape((-1, 8))(x))
        x = layers.Concatenate()([layers.Flatten()(sequence), pooled])
        x = layers.Dropout(0.5)(x)
        model = keras.Model(inputs, layers.Dense(7, activation="softmax")(x))
        _trained_looking_batchnorm(model, 16)
        prelu = model.get_layer("prelu")
        prelu.set_weights([np.random.default_rng(16).uniform(0.05, 0.5, prelu.alpha.shape)])
    return model
