"""Built-in example models for ``graphnn bench`` / ``inspect`` / ``compile`` (the benchmark
MLP and CNN), and loading a model file."""
from __future__ import annotations


def example_model(name: str):
    """``mlp``: 784-512-512-10, relu, softmax, SGD momentum, sparse categorical cross-entropy;
    ``cnn``: 28x28x1 -> Conv2D(32, 3x3) -> Conv2D(64, 3x3) -> MaxPooling2D(2) -> Dense(128) ->
    Dense(10), the same optimizer and loss."""
    from ..layers import Conv2D, Dense, Flatten, MaxPooling2D
    from ..models import Sequential
    from ..optimizers import SGD
    if name == "mlp":
        layers = [Dense(512, activation="relu", input_dim=784), Dense(512, activation="relu"),
                  Dense(10, activation="softmax")]
    elif name == "cnn":
        layers = [Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                  Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)), Flatten(),
                  Dense(128, activation="relu"), Dense(10, activation="softmax")]
    else:
        raise ValueError(f"unknown example model {name!r}: choose 'mlp' or 'cnn'")
    model = Sequential(layers, name=f"example_{name}")
    model.compile(optimizer=SGD(lr=0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    return model


def load(path: str):
    """A model saved with ``model.save`` (HDF5)."""
    try:
        from ..models import load_model
    except ImportError:   # pragma: no cover - depends on the saving module's presence
        raise RuntimeError("this version of graphnn cannot load whole models from files "
                           "(graphnn.models.load_model is missing); use --example") from None
    return load_model(path)
