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
    # convolution and pooling (tiny shapes: the gradient check perturbs every element)
    ("Conv1D", lambda: L.Conv1D(2, 2, activation="tanh"), (2, 4, 2), {}),
    ("Convolution1D-keras1", lambda: L.Convolution1D(nb_filter=2, filter_length=2,
                                                     border_mode="same", subsample_length=2),
     (1, 5, 2), {}),
    ("Conv1D-dilated", lambda: L.Conv1D(2, 2, dilation_rate=2), (1, 5, 1), {}),
    ("Conv2D", lambda: L.Conv2D(2, (2, 2), padding="same"), (1, 3, 3, 2), {}),
    ("Convolution2D-keras1-th", lambda: L.Convolution2D(2, 2, 2, subsample=(2, 1),
                                                        dim_ordering="th"), (1, 2, 4, 3), {}),
    ("Conv2D-strided", lambda: L.Conv2D(1, 3, strides=2, use_bias=False), (1, 5, 5, 1), {}),
    ("Conv3D", lambda: L.Conv3D(1, 2), (1, 3, 2, 2, 1), {}),
    ("SeparableConv2D", lambda: L.SeparableConv2D(2, 2, depth_multiplier=2), (1, 3, 3, 1), {}),
    ("Conv2DTranspose", lambda: L.Conv2DTranspose(1, 2, strides=2), (1, 2, 2, 1), {}),
    ("LocallyConnected1D", lambda: L.LocallyConnected1D(2, 2), (1, 3, 2), {}),
    ("LocallyConnected2D", lambda: L.LocallyConnected2D(1, (2, 2)), (1, 3, 3, 1), {}),
    ("UpSampling1D", lambda: L.UpSampling1D(2), (2, 2, 2), {}),
    ("UpSampling2D", lambda: L.UpSampling2D((2, 1)), (1, 2, 2, 2), {}),
    ("UpSampling3D", lambda: L.UpSampling3D((1, 2, 1)), (1, 2, 1, 2, 1), {}),
    ("ZeroPadding1D", lambda: L.ZeroPadding1D((1, 2)), (2, 2, 2), {}),
    ("ZeroPadding2D", lambda: L.ZeroPadding2D(1), (1, 2, 2, 1), {}),
    ("ZeroPadding3D", lambda: L.ZeroPadding3D((1, 0, 1)), (1, 1, 2, 1, 1), {}),
    ("Cropping1D", lambda: L.Cropping1D((1, 0)), (2, 3, 2), {}),
    ("Cropping2D", lambda: L.Cropping2D(((1, 0), (0, 1))), (1, 3, 3, 1), {}),
    ("Cropping3D", lambda: L.Cropping3D(((0, 1), (1, 0), (0, 0))), (1, 2, 2, 2, 1), {}),
    ("MaxPooling1D", lambda: L.MaxPooling1D(2), (2, 4, 2), {}),
    ("AveragePooling1D-same", lambda: L.AveragePooling1D(2, padding="same"), (2, 3, 2), {}),
    ("MaxPooling2D", lambda: L.MaxPooling2D((2, 2)), (1, 4, 4, 1), {}),
    ("AveragePooling2D-th", lambda: L.AveragePooling2D(dim_ordering="th"), (1, 2, 2, 4), {}),
    ("MaxPooling3D", lambda: L.MaxPooling3D((2, 1, 2)), (1, 2, 2, 2, 1), {}),
    ("AveragePooling3D", lambda: L.AveragePooling3D(), (1, 2, 2, 2, 1), {}),
    ("GlobalMaxPooling1D", lambda: L.GlobalMaxPooling1D(), (2, 3, 2), {}),
    ("GlobalAveragePooling1D", lambda: L.GlobalAveragePooling1D(), (2, 3, 2), {}),
    ("GlobalMaxPooling2D", lambda: L.GlobalMaxPooling2D(), (1, 2, 2, 2), {}),
    ("GlobalAveragePooling2D", lambda: L.GlobalAveragePooling2D(), (1, 2, 2, 2), {}),
    ("GlobalMaxPooling3D", lambda: L.GlobalMaxPooling3D(), (1, 2, 1, 2, 2), {}),
    ("GlobalAveragePooling3D", lambda: L.GlobalAveragePooling3D(), (1, 2, 1, 2, 2), {}),
    # merge layers: a list of input shapes
    ("Add", lambda: L.Add(), [(2, 3), (2, 3), (2, 3)], {}),
    ("Add-broadcast", lambda: L.Add(), [(2, 3), (2, 1)], {}),
    ("Subtract", lambda: L.Subtract(), [(2, 3), (2, 3)], {}),
    ("Multiply", lambda: L.Multiply(), [(2, 3), (2, 3)], {}),
    ("Average", lambda: L.Average(), [(2, 3), (2, 3)], {}),
    ("Maximum", lambda: L.Maximum(), [(2, 3), (2, 3)], {}),
    ("Minimum", lambda: L.Minimum(), [(2, 3), (2, 3)], {}),
    ("Concatenate", lambda: L.Concatenate(), [(2, 3), (2, 2)], {}),
    ("Concatenate-axis1", lambda: L.Concatenate(axis=1), [(2, 1, 2), (2, 2, 2)], {}),
    ("Dot", lambda: L.Dot(axes=1), [(2, 3), (2, 3)], {}),
    ("Dot-normalize", lambda: L.Dot(axes=-1, normalize=True), [(2, 3), (2, 3)], {}),
    ("Dot-3d", lambda: L.Dot(axes=(1, 2)), [(2, 3, 2), (2, 2, 3)], {}),
    ("Merge-sum", lambda: L.Merge(mode="sum"), [(2, 3), (2, 3)], {}),
    ("Merge-mul", lambda: L.Merge(mode="mul"), [(2, 3), (2, 3)], {}),
    ("Merge-ave", lambda: L.Merge(mode="ave"), [(2, 3), (2, 3), (2, 3)], {}),
    ("Merge-max", lambda: L.Merge(mode="max"), [(2, 3), (2, 3)], {}),
    ("Merge-concat", lambda: L.Merge(mode="concat", concat_axis=1), [(2, 2, 2), (2, 1, 2)], {}),
    ("Merge-dot", lambda: L.Merge(mode="dot", dot_axes=1), [(2, 3), (2, 3)], {}),
    ("Merge-cos", lambda: L.Merge(mode="cos", dot_axes=1), [(2, 3), (2, 3)], {}),
    ("Merge-lambda", lambda: L.Merge(mode=lambda t: t[0] * t[1] - t[0], output_shape=(3,)),
     [(2, 3), (2, 3)], {}),
    # wrappers
    ("TimeDistributed-Dense", lambda: L.TimeDistributed(L.Dense(2, activation="tanh")),
     (2, 3, 2), {}),
    ("TimeDistributed-BatchNormalization", lambda: L.TimeDistributed(L.BatchNormalization()),
     (2, 2, 3), dict(grad_phases=(0, 1))),
    ("TimeDistributed-Conv1D", lambda: L.TimeDistributed(L.Conv1D(1, 2)), (1, 2, 3, 2), {}),
    ("TimeDistributed-MaxPooling2D", lambda: L.TimeDistributed(L.MaxPooling2D()),
     (1, 2, 2, 2, 1), {}),
    ("Bidirectional-SimpleRNN", lambda: L.Bidirectional(L.SimpleRNN(2, return_sequences=True)),
     (2, 3, 2), {}),
    ("Bidirectional-LSTM-sum", lambda: L.Bidirectional(L.LSTM(2), merge_mode="sum"), (2, 3, 2),
     {}),
    ("Bidirectional-GRU-keras1", lambda: L.Bidirectional(L.GRU(output_dim=2, init="uniform"),
                                                         merge_mode="mul"), (2, 3, 2), {}),
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
