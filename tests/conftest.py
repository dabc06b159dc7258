import numpy as np
import pytest

import tessera as ts


@pytest.fixture(autouse=True)
def _seed():
    ts.manual_seed(0)
    np.random.seed(0)
    yield
