"""Fixtures for the iotcored integration suite (see README.md).

broker / broker_factory  real mosquitto on a free 127.0.0.1 port (never 1883)
daemon / daemon_factory  iotcored from a generated config, port = 0 listeners,
                         stopped with SIGTERM at teardown (must exit 0 in 10 s)
mod_daemon               one daemon (and broker) shared by a test module
backend                  paho subscriber on the broker, "google/#" at QoS 1
On any failure, the daemon and broker logs written during the test are
attached to the report (and the temporary directory is kept by pytest).
"""
import os

import pytest

import helpers


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes several seconds of wall time")


@pytest.fixture(scope="session")
def iotcored_bin():
    b = helpers.iotcored_bin()
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        if os.environ.get("IOTCORED_BIN"):
            pytest.fail("IOTCORED_BIN=%s is not an executable file" % b)
        pytest.skip("iotcored binary not found at %s (set IOTCORED_BIN)" % b)
    return b


class BrokerPool:
    """Brokers made for one test; the first default() one is shared."""

    def __init__(self, base):
        self.base = base
        self.made = []
        self._default = None

    def __call__(self, persistence=False, **kw):
        b = helpers.Broker(os.path.join(str(self.base), "broker%d" % len(self.made)), persistence=persistence, **kw)
        self.made.append(b)
        return b.start()

    def default(self):
        if self._default is None:
            self._default = self()
        return self._default

    def stop_all(self):
        for b in self.made:
            b.stop()


@pytest.fixture
def broker_factory(tmp_path):
    pool = BrokerPool(tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def broker(broker_factory):
    return broker_factory.default()


class DaemonPool:
    def __init__(self, base, binary, brokers):
        self.base = base
        self.binary = binary
        self.brokers = brokers
        self.made = []

    def __call__(self, broker=None, start=True, **kw):
        brk = broker or self.brokers.default()
        d = helpers.Daemon(os.path.join(str(self.base), "iotcored%d" % len(self.made)), brk.url,
                           binary=self.binary, **kw)
        d.broker = brk
        self.made.append(d)
        if start:
            d.start()
        return d

    def stop_all(self):
        errors = []
        for d in self.made:
            try:
                if d.expect_clean_exit:
                    d.stop_checked()
                else:
                    d.stop()
            except AssertionError as e:
                errors.append(str(e))
        return errors


@pytest.fixture
def daemon_factory(tmp_path, iotcored_bin, broker_factory):
    pool = DaemonPool(tmp_path, iotcored_bin, broker_factory)
    yield pool
    errors = pool.stop_all()
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory()


@pytest.fixture
def backend(broker):
    b = helpers.Backend(broker.port).connect()
    yield b
    b.close()


class ModulePool:
    """Daemons, each with its own broker, shared by the tests of one module."""

    def __init__(self, base, binary):
        self.base = base
        self.binary = binary
        self.pairs = []

    def __call__(self, **kw):
        n = len(self.pairs)
        brk = helpers.Broker(os.path.join(str(self.base), "broker%d" % n)).start()
        d = helpers.Daemon(os.path.join(str(self.base), "iotcored%d" % n), brk.url, binary=self.binary, **kw)
        d.broker = brk
        self.pairs.append((brk, d))
        try:
            d.start()
        except BaseException:
            brk.stop()
            raise
        return d

    def stop_all(self):
        errors = []
        for brk, d in self.pairs:
            try:
                d.stop_checked()
            except AssertionError as e:
                errors.append(str(e))
            finally:
                brk.stop()
        return errors


@pytest.fixture(scope="module")
def mod_pool(tmp_path_factory, iotcored_bin):
    """Factory for module-scoped daemons; their clean SIGTERM exit is checked
    at module teardown."""
    pool = ModulePool(tmp_path_factory.mktemp("mod"), iotcored_bin)
    yield pool
    errors = pool.stop_all()
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture(scope="module")
def mod_daemon(mod_pool):
    """One default daemon (and its broker) shared by a test module."""
    return mod_pool()


@pytest.fixture
def mod_backend(mod_daemon):
    b = helpers.Backend(mod_daemon.broker.port).connect()
    yield b
    b.close()


# ---------------------------------------------------------------- logs on failure

@pytest.fixture(autouse=True)
def _log_marks(request):
    helpers.REGISTRY[:] = [p for p in helpers.REGISTRY if p.alive()]
    request.node._iot_marks = {id(p): p.log_size() for p in helpers.REGISTRY}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    marks = getattr(item, "_iot_marks", {})
    for p in list(helpers.REGISTRY):
        since = marks.get(id(p), 0)
        text = p.log_tail(since)
        if text.strip():
            rep.sections.append(("%s log (%s) from this test" % (p.name, p.log_path), text))
