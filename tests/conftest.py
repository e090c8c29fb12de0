import os

import pytest

from slim_dg.data.datasets.digits_dg import generate_digits_dg


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> str:
    """A DATASET.ROOT holding the generated digits_dg tree, shared by the session's tests."""
    root = tmp_path_factory.mktemp("data")
    generate_digits_dg(os.path.join(root, "digits_dg"))
    return str(root)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long end-to-end runs (deselect with -m 'not slow')")
    # slim_dg.data.build decodes with torchvision's deprecated (still fastest) decoders on purpose
    config.addinivalue_line("filterwarnings",
                            "ignore:The image decoding and encoding capabilities of TorchVision:DeprecationWarning")
