"""Per-second quotas on what devices send: Google's 100 messages/s per
connection and 512 KB/s per device (closed with RESOURCE_EXHAUSTED in
lastErrorStatus), AWS's 100 publishes/s and 512 KB/s per connection
(disconnected, as AWS does when it throttles). Small quotas configured so
the tests run fast; the defaults are checked by test_config.py."""
import time

import awshelp
import helpers as h


def last_error(d, dev):
    r = d.rest("GET", d.reg_path(dev.project, dev.location, dev.registry) + "/devices/" + dev.id)
    assert r.status_code == 200, r.text
    return r.json().get("lastErrorStatus", {})


def test_google_throughput_per_device(daemon_factory, backend):
    d = daemon_factory(google={"max_bytes_per_second": 10000})
    dev = d.new_device()
    c = dev.connect()
    try:
        # Two 4000-byte events fit in a second; after a pause two more fit.
        assert c.publish_acked(dev.topic(), b"a" * 4000)
        assert c.publish_acked(dev.topic(), b"b" * 4000)
        time.sleep(1.1)
        assert c.publish_acked(dev.topic(), b"c" * 4000)
        assert c.publish_acked(dev.topic(), b"d" * 4000)
        # The third within the same second goes over 10000 bytes/s.
        mark = d.log_mark()
        assert not c.publish_acked(dev.topic(), b"e" * 4000, timeout=h.T_CLOSE)
        assert c.wait_closed()
        d.wait_log(r"reason=throughput-limit", since=mark)
    finally:
        c.close()
    err = last_error(d, dev)
    assert err.get("code") == 8 and "throughput" in err.get("message", ""), err
    assert not backend.find(payload=b"e" * 4000)


def test_google_message_rate_per_connection(daemon_factory):
    d = daemon_factory(google={"max_messages_per_second": 5})
    dev = d.new_device()
    c = dev.connect()
    try:
        for i in range(5):
            assert c.publish_acked(dev.topic(), b"%d" % i)
        assert not c.publish_acked(dev.topic(), b"six", timeout=h.T_CLOSE)
        assert c.wait_closed()
    finally:
        c.close()
    err = last_error(d, dev)
    assert err.get("code") == 8 and "rate" in err.get("message", ""), err


def test_aws_quotas_per_connection(daemon_factory):
    d = daemon_factory(extra="aws = { max_messages_per_second = 4; max_bytes_per_second = 3000; };")
    iot = awshelp.iot_client(d)
    cert = awshelp.new_cert(iot, d.dir, policy_doc=awshelp.allow_all_policy())
    # Message rate: the fifth publish within a second disconnects.
    dev = awshelp.AwsDevice(d, cert.cert_path, cert.key_path, h.unique_id("q"))
    try:
        assert dev.connect() == 0, dev.describe()
        mark = d.log_mark()
        for i in range(4):
            assert dev.publish_acked("q/m", b"%d" % i)
        dev.publish("q/m", b"5th", qos=1)
        assert dev.wait_closed()
        d.wait_log(r"reason=rate-limit", since=mark)
    finally:
        dev.close()
    # Throughput: 2 x 1000 bytes fit, a third 1500 goes over 3000 bytes/s.
    dev = awshelp.AwsDevice(d, cert.cert_path, cert.key_path, h.unique_id("q"))
    try:
        assert dev.connect() == 0, dev.describe()
        mark = d.log_mark()
        assert dev.publish_acked("q/b", b"x" * 1000)
        assert dev.publish_acked("q/b", b"y" * 1000)
        dev.publish("q/b", b"z" * 1500, qos=1)
        assert dev.wait_closed()
        d.wait_log(r"reason=throughput-limit", since=mark)
    finally:
        dev.close()
