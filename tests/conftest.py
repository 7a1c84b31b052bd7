"""Test configuration: an isolated compile cache per session, and the ``slow`` marker."""
import os
import tempfile

import pytest

os.environ.setdefault("GRAPHNN_CACHE_DIR", tempfile.mkdtemp(prefix="graphnn-test-cache-"))
# verify the graph after every pass (outside the tests only the input graph is verified)
os.environ.setdefault("GRAPHNN_VERIFY_PASSES", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: longer end-to-end cases (CI still runs them)")


@pytest.fixture
def rng():
    import numpy as np
    return np.random.default_rng(0)
