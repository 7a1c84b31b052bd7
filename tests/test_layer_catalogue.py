"""Every layer of the catalogue through the layer contract (tests/layer_contract.py)."""
import numpy as np
import pytest

from graphnn import backend as K
from graphnn import layers as L
from layer_contract import check_layer


@pytest.fixture(autouse=True)
def _fresh_session():
    K.clear_session()
    yield
    K.clear_session()


CASES = [
    ("Dense", lambda: L.Dense(3, activation="tanh"), (2, 4), {}),
    ("Dense-keras1", lambda: L.Dense(output_dim=3, init="uniform", bias=False), (2, 4), {}),
    ("Dense-3d", lambda: L.Dense(2), (2, 3, 4), {}),
    ("Activation", lambda: L.Activation("sigmoid"), (2, 3), {}),
    ("Dropout", lambda: L.Dropout(0.5), (2, 3), {}),
    ("Flatten", lambda: L.Flatten(), (2, 3, 2), {}),
    ("Reshape", lambda: L.Reshape((2, -1)), (2, 6), {}),
    ("Permute", lambda: L.Permute((2, 1)), (2, 3, 4), {}),
    ("RepeatVector", lambda: L.RepeatVector(3), (2, 2), {}),
    ("ActivityRegularization", lambda: L.ActivityRegularization(l1=0.1), (2, 3), {}),
    ("SpatialDropout1D", lambda: L.SpatialDropout1D(0.3), (2, 3, 2), {}),
    ("SpatialDropout2D", lambda: L.SpatialDropout2D(p=0.3, dim_ordering="th"), (2, 2, 2, 2), {}),
    ("SpatialDropout3D", lambda: L.SpatialDropout3D(0.3), (1, 2, 2, 1, 2), {}),
    ("Masking", lambda: L.Masking(0.0), (2, 3, 2),
     dict(input_data=np.array([[[1, 2], [0, 0], [3, 0]], [[0, 0], [0, 0], [1, 1]]], "float32"))),
    ("Highway", lambda: L.Highway(activation="tanh"), (2, 3), {}),
    ("Highway-keras2", lambda: L.Highway(kernel_initializer="he_normal", use_bias=False), (2, 3),
     {}),
    ("MaxoutDense", lambda: L.MaxoutDense(2, nb_feature=3), (2, 3), {}),
    ("MaxoutDense-keras1", lambda: L.MaxoutDense(output_dim=2, init="uniform"), (2, 3), {}),
    ("TimeDistributedDense", lambda: L.TimeDistributedDense(2, activation="relu"), (2, 3, 4), {}),
    ("Embedding", lambda: L.Embedding(6, 3, input_length=4), (2, 4),
     dict(input_dtype="int32", int_high=6)),
    ("Embedding-keras1", lambda: L.Embedding(6, 3, init="normal", mask_zero=True, dropout=0.2),
     (2, 4), dict(input_dtype="int32", int_high=6)),
    ("BatchNormalization", lambda: L.BatchNormalization(), (4, 3), dict(grad_phases=(0, 1))),
    ("BatchNormalization-axis1", lambda: L.BatchNormalization(axis=1, momentum=0.9, center=False),
     (3, 2, 2), dict(grad_phases=(0, 1))),
    ("BatchNormalization-mode1", lambda: L.BatchNormalization(mode=1, gamma_init="one"), (3, 4),
     {}),
    ("BatchNormalization-mode2", lambda: L.BatchNormalization(mode=2, epsilon=1e-2), (3, 2),
     dict(grad_phases=(0, 1))),
    ("LeakyReLU", lambda: L.LeakyReLU(0.2), (2, 3), {}),
    ("PReLU", lambda: L.PReLU(), (2, 3), {}),
    ("PReLU-shared", lambda: L.PReLU(init="uniform", shared_axes=[1]), (2, 3, 2), {}),
    ("ELU", lambda: L.ELU(0.5), (2, 3), {}),
    ("ThresholdedReLU", lambda: L.ThresholdedReLU(0.5), (2, 3), {}),
    ("ParametricSoftplus", lambda: L.ParametricSoftplus(), (2, 3), {}),
    ("SReLU", lambda: L.SReLU(shared_axes=2), (2, 3, 2), {}),
    ("GaussianNoise", lambda: L.GaussianNoise(0.1), (2, 3), {}),
    ("GaussianNoise-keras1", lambda: L.GaussianNoise(sigma=0.1), (2, 3), {}),
    ("GaussianDropout", lambda: L.GaussianDropout(0.3), (2, 3), {}),
]


@pytest.mark.parametrize("name,factory,shape,kwargs", CASES, ids=[c[0] for c in CASES])
def test_layer_contract(name, factory, shape, kwargs):
    check_layer(factory, shape, **kwargs)


class _WrongGradient(L.Layer):
    """y = x**2 with the gradient cut: the contract must notice."""

    def call(self, inputs, mask=None):
        return K.stop_gradient(inputs) * inputs


class _WrongShape(L.Layer):
    def compute_output_shape(self, input_shape):
        return input_shape[:-1] + (7,)


def test_contract_catches_wrong_gradient_and_shape():
    with pytest.raises(AssertionError, match="gradient"):
        check_layer(_WrongGradient, (2, 3), custom_objects={"_WrongGradient": _WrongGradient})
    with pytest.raises(AssertionError, match="compute_output_shape"):
        check_layer(_WrongShape, (2, 3), custom_objects={"_WrongShape": _WrongShape})
