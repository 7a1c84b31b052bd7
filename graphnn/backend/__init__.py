"""The Keras backend namespace (``from graphnn import backend as K``).

Tensors are ``ir.Tensor`` values; a free (Keras ``None``) dimension is a symbol (``'N'`` for the
batch).  ``K.shape(x)`` returns the symbolic shape tuple, usable wherever a shape is expected.
"""
from .common import (backend, clear_session, epsilon, floatx, get_uid, image_data_format,
                     image_dim_ordering, reset_uids, set_epsilon, set_floatx,
                     set_image_data_format, set_image_dim_ordering)
from .conv import (conv1d, conv2d, conv2d_transpose, conv3d, deconv2d, depthwise_conv2d,
                   pool1d, pool2d, pool3d, resize_images, resize_volumes, separable_conv2d,
                   spatial_2d_padding, spatial_3d_padding, temporal_padding)
from .function import Function, function, gradients
from .nn import (batch_normalization, binary_crossentropy, categorical_crossentropy, elu,
                 hard_sigmoid, l2_normalize, log_softmax, normalize_batch_in_training, relu,
                 sigmoid, softmax, softplus, softsign, sparse_categorical_crossentropy, tanh)
from .ops import (abs, all, any, arange, argmax, argmin, batch_dot, batch_flatten, bias_add,
                  cast, cast_to_floatx, clip, concatenate, cos, cumprod, cumsum, dot, equal, exp,
                  expand_dims, flatten, gather, getitem, greater, greater_equal, identity,
                  in_top_k, less, less_equal, log, logical_and, logical_or, logsumexp, max,
                  maximum, mean, min, minimum, not_equal, one_hot, permute_dimensions, pow,
                  print_tensor, prod, repeat, repeat_elements, reshape, reverse, round, sign, sin,
                  sqrt, square, squeeze, stack, std, stop_gradient, sum, temporal_padding, tile,
                  transpose, var)
from .phase import in_test_phase, in_train_phase, learning_phase, set_learning_phase, switch
from .random import dropout, random_binomial, random_normal, random_uniform
from .rnn import rnn
from .variables import (batch_get_value, batch_set_value, constant, count_params, dtype, eval,
                        eye, get_value, get_variable_shape, int_shape, is_keras_tensor, is_sparse,
                        is_tensor, is_variable, moving_average_update, ndim, ones, ones_like,
                        placeholder, random_normal_variable, random_uniform_variable, set_value,
                        shape, to_dense, update, update_add, update_sub, variable, zeros,
                        zeros_like)

_BACKEND = "graphnn"
