import logging

import pytest


@pytest.fixture
def data_log(caplog):
    """The records of the ``slim_dg.data`` logger (whatever an earlier run set its propagation to)."""
    logger = logging.getLogger("slim_dg.data")
    old = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # each record once, through caplog's handler
    yield caplog
    logger.setLevel(old[0])
    logger.propagate = old[1]
    logger.removeHandler(caplog.handler)
