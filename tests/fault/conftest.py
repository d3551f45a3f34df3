"""Fixtures for the iotcored fault suite (see README.md): the integration
harness, reused as is. tests/integration goes on sys.path (for `import
helpers`) and its conftest.py is loaded under another module name, and its
fixtures and hooks (brokers, daemons, backends, logs attached on failure)
are re-exported from here, so a test file here looks like one there.
"""
import importlib.util
import os
import sys

import pytest

INTEGRATION = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "integration"))
if INTEGRATION not in sys.path:
    sys.path.insert(0, INTEGRATION)

_spec = importlib.util.spec_from_file_location("iotcored_integration_conftest",
                                               os.path.join(INTEGRATION, "conftest.py"))
_integration = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _integration
_spec.loader.exec_module(_integration)

# Fixtures (including the autouse _log_marks) and hooks are found by name.
for _name in dir(_integration):
    if not _name.startswith("__") and _name not in ("os", "pytest", "helpers"):
        globals()[_name] = getattr(_integration, _name)


# ---------------------------------------------------------------- measurements

_MEASURED = []


@pytest.fixture
def measure(request, record_testsuite_property):
    """measure(key, value): a figure worth reporting (connect time under
    abuse, RSS...). It goes to the JUnit file as a testsuite property
    "TEST.key" and is printed in the terminal summary."""

    def put(key, value):
        name = "%s.%s" % (request.node.name, key)
        record_testsuite_property(name, value)
        _MEASURED.append((name, value))

    return put


def pytest_terminal_summary(terminalreporter):
    if _MEASURED:
        terminalreporter.section("measurements")
        for name, value in _MEASURED:
            terminalreporter.write_line("%s = %s" % (name, value))
