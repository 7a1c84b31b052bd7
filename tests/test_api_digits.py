"""The mnist_mlp example on scikit-learn's 8x8 digits reaches >= 0.95 test accuracy."""
import importlib.util
import os
import re

import numpy as np
import pytest

from graphnn import backend as K

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "mnist_mlp.py")


def test_digits_loader_shapes():
    pytest.importorskip("sklearn")
    from graphnn.datasets import digits
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() == 1.0
    assert set(np.unique(y_train)) == set(range(10)) and y_test.shape == (360,)


@pytest.mark.slow  # about 20 s under GRAPHNN_DEVICE=interpreter on 2 cores
def test_mnist_mlp_example_reaches_95_percent(capsys):
    pytest.importorskip("sklearn")
    K.clear_session()
    spec = importlib.util.spec_from_file_location("mnist_mlp_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    accuracy = example.main(verbose=0, validate=False)
    out = capsys.readouterr().out
    assert "Total params: 301,066" in out
    assert re.search(r"^test accuracy: 0\.9\d\d$", out, re.M), out[-300:]
    assert out.rstrip().splitlines()[-1] == "test accuracy: %.3f" % accuracy
    assert accuracy >= 0.95
