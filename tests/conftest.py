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
    # `pytest tests -m "not slow"` is the inner loop (under 2 minutes on 2 cores); CI runs all of `pytest tests`.
    # A test is slow when it takes more than about 2 s on 2 idle cores (`pytest --durations=0` says), which in
    # practice means it, or a module fixture it uses, trains end to end (launch.main, tools/*.py, a trainer's
    # train()) or starts other Python processes (subprocess, torchrun, mp.spawn). A module whose tests all are
    # gets `pytestmark = pytest.mark.slow` under its imports, any other slow test `@pytest.mark.slow`; the tests
    # of an expensive shared fixture are marked by a hook beside it (tests/analysis/conftest.py).
    config.addinivalue_line("markers", "slow: end-to-end trainings, subprocesses and DDP (deselect with -m 'not slow')")
    # slim_dg.data.build decodes with torchvision's deprecated (still fastest) decoders on purpose
    config.addinivalue_line("filterwarnings",
                            "ignore:The image decoding and encoding capabilities of TorchVision:DeprecationWarning")
