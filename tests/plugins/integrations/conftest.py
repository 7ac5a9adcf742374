"""The integrations plugin switched on for every franchise of the test network."""

import pytest

from core.extensions import db
from core.plugins import set_activation


@pytest.fixture(scope="module", autouse=True)
def integrations_active(app):
    with app.app_context():
        set_activation("integrations", enabled=True)
        db.session.commit()
    yield
