"""AWS provisioning end to end: just-in-time registration (an unknown
certificate signed by a CA with auto-registration connects once, is
registered PENDING_ACTIVATION and announced on
$aws/events/certificates/registered/CAID, and connects after a backend
activated it), just-in-time provisioning (the CA's template creates the
thing and the policy and activates the certificate), and fleet
provisioning by claim over MQTT. Real paho devices with client
certificates, the control plane through botocore."""
import json

import pytest

import awshelp
import helpers
from awshelp import AwsDevice, make_cert, policy
from cryptography.hazmat.primitives import serialization

REGION, ACCOUNT = "us-east-1", "123456789012"
ARN = "arn:aws:iot:%s:%s:" % (REGION, ACCOUNT)
ALLOW_ALL = policy({"Effect": "Allow", "Action": "iot:*", "Resource": "*"})

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def env(tmp_path_factory, iotcored_bin):
    base = tmp_path_factory.mktemp("prov")
    with awshelp.daemon_with_broker(base, iotcored_bin) as d:
        iot = awshelp.iot_client(d)
        yield d, iot, str(base)


def register_ca(iot, registration_config=None):
    """A CA of our own, registered ACTIVE with auto-registration."""
    code = iot.get_registration_code()["registrationCode"]
    ca_pem, ca_key, ca_cert = make_cert("JIT CA %s" % helpers.unique_id("ca"), ca=True)
    ver_pem, _, _ = make_cert(code, issuer_cert=ca_cert, issuer_key=ca_key)
    kw = {"registrationConfig": registration_config} if registration_config else {}
    out = iot.register_ca_certificate(caCertificate=ca_pem, verificationCertificate=ver_pem,
                                      setAsActive=True, allowAutoRegistration=True, **kw)
    return out["certificateId"], ca_cert, ca_key


def device_files(tmp_path, cn, ca_cert, ca_key):
    pem, key, _ = make_cert(cn, issuer_cert=ca_cert, issuer_key=ca_key)
    cp, kp = tmp_path / (cn + ".pem"), tmp_path / (cn + ".key")
    cp.write_text(pem)
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return str(cp), str(kp), awshelp.cert_id(pem)


def try_connect(d, cp, kp, cid):
    dev = AwsDevice(d, cp, kp, cid)
    rc = dev.connect()
    return dev, rc


def test_jitr(env, tmp_path):
    d, iot, base = env
    ca_id, ca_cert, ca_key = register_ca(iot)
    cp, kp, cid = device_files(tmp_path, "jitr-dev", ca_cert, ca_key)
    be = helpers.Backend(d.broker.port, topic="aws/$aws/events/certificates/registered/#").connect()
    try:
        # First connection: registered, announced, refused (no CONNACK).
        dev, rc = try_connect(d, cp, kp, "jitr-1")
        assert rc is None or rc != 0
        assert dev.wait_closed()
        dev.close()
        m = be.wait_message("aws/$aws/events/certificates/registered/" + ca_id)
        ev = json.loads(m[1])
        assert ev["certificateId"] == cid and ev["caCertificateId"] == ca_id
        assert ev["certificateStatus"] == "PENDING_ACTIVATION" and ev["awsAccountId"] == ACCOUNT
        assert isinstance(ev["timestamp"], int)
        desc = iot.describe_certificate(certificateId=cid)["certificateDescription"]
        assert desc["status"] == "PENDING_ACTIVATION" and desc["caCertificateId"] == ca_id
        # Still pending: refused again, and announced again.
        dev, rc = try_connect(d, cp, kp, "jitr-1")
        assert rc is None or rc != 0
        dev.close()
        helpers.wait_for(lambda: len(be.find("aws/$aws/events/certificates/registered/" + ca_id)) >= 2,
                         helpers.T_DELIVER, "the event again")
        # The backend's part (a Lambda on AWS): activate and attach a policy.
        iot.update_certificate(certificateId=cid, newStatus="ACTIVE")
        name = helpers.unique_id("jitrpol")
        iot.create_policy(policyName=name, policyDocument=ALLOW_ALL)
        iot.attach_policy(policyName=name, target=desc["certificateArn"])
        dev, rc = try_connect(d, cp, kp, "jitr-1")
        try:
            assert rc == 0, dev.describe()
            assert dev.publish_acked("dt/jitr", b"1", qos=1)
        finally:
            dev.close()
    finally:
        be.close()
    # Auto-registration off: an unknown certificate is simply refused.
    iot.update_ca_certificate(certificateId=ca_id, newAutoRegistrationStatus="DISABLE")
    cp2, kp2, cid2 = device_files(tmp_path, "jitr-off", ca_cert, ca_key)
    dev, rc = try_connect(d, cp2, kp2, "jitr-2")
    assert rc is None or rc != 0
    dev.close()
    with pytest.raises(Exception):
        iot.describe_certificate(certificateId=cid2)


JITP_TEMPLATE = {
    "Parameters": {
        "AWS::IoT::Certificate::CommonName": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
    },
    "Resources": {
        "thing": {"Type": "AWS::IoT::Thing", "Properties": {
            "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
            "AttributePayload": {"provisioner": "jitp"}}},
        "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
            "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect",
                 "Resource": ARN + "client/${iot:Connection.Thing.ThingName}"},
                {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
                 "Resource": ARN + "topic/dt/${iot:Connection.Thing.ThingName}/*"}]})}},
    },
}


def test_jitp(env, tmp_path):
    d, iot, base = env
    ca_id, ca_cert, ca_key = register_ca(iot, {
        "templateBody": json.dumps(JITP_TEMPLATE),
        "roleArn": "arn:aws:iam::%s:role/JITPRole" % ACCOUNT})
    thing = helpers.unique_id("jitp")
    cp, kp, cid = device_files(tmp_path, thing, ca_cert, ca_key)
    dev, rc = try_connect(d, cp, kp, thing)
    assert rc is None or rc != 0                  # AWS closes the first connection too
    dev.close()
    desc = iot.describe_certificate(certificateId=cid)["certificateDescription"]
    assert desc["status"] == "ACTIVE" and desc["caCertificateId"] == ca_id
    t = iot.describe_thing(thingName=thing)
    assert t["attributes"] == {"provisioner": "jitp"}
    assert iot.list_thing_principals(thingName=thing)["principals"] == [desc["certificateArn"]]
    pols = iot.list_attached_policies(target=desc["certificateArn"])["policies"]
    assert len(pols) == 1
    # The reconnect is let in, with the template's policy in force.
    dev, rc = try_connect(d, cp, kp, thing)
    try:
        assert rc == 0, dev.describe()
        assert dev.publish_acked("dt/%s/temp" % thing, b"21", qos=1)
        dev.publish("dt/someone-else/temp", b"x", qos=1)
        assert dev.wait_closed()                  # outside the template's policy
    finally:
        dev.close()
    # A second device of the same template shares the one inline policy.
    thing2 = helpers.unique_id("jitp")
    cp2, kp2, cid2 = device_files(tmp_path, thing2, ca_cert, ca_key)
    dev, rc = try_connect(d, cp2, kp2, thing2)
    dev.close()
    arn2 = iot.describe_certificate(certificateId=cid2)["certificateDescription"]["certificateArn"]
    assert iot.list_attached_policies(target=arn2)["policies"] == pols


FLEET_TEMPLATE = {
    "Parameters": {"SerialNumber": {"Type": "String"},
                   "Room": {"Type": "String", "Default": "lobby"}},
    "Resources": {
        "thing": {"Type": "AWS::IoT::Thing", "Properties": {
            "ThingName": {"Fn::Join": ["", ["fleet-", {"Ref": "SerialNumber"}]]},
            "AttributePayload": {"serial": {"Ref": "SerialNumber"}, "room": {"Ref": "Room"}}}},
        "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
            "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "FLEETPOLICY"}},
    },
    "DeviceConfiguration": {"telemetryTopic": {"Fn::Sub": "dt/${SerialNumber}"}},
}


def claim_policy(template):
    return policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
         "Resource": [ARN + "topic/$aws/certificates/create/*",
                      ARN + "topic/$aws/certificates/create-from-csr/*",
                      ARN + "topic/$aws/provisioning-templates/%s/provision/*" % template]},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": [ARN + "topicfilter/$aws/certificates/create/*",
                      ARN + "topicfilter/$aws/certificates/create-from-csr/*",
                      ARN + "topicfilter/$aws/provisioning-templates/%s/provision/*" % template]},
    )


def reply(dev, topic, timeout=helpers.T_DELIVER):
    """The first message on topic/accepted or topic/rejected: (kind, doc)."""
    got = helpers.wait_for(lambda: [m for m in list(dev.messages)
                                    if m[0] in (topic + "/accepted", topic + "/rejected")],
                           timeout, "an answer on %s" % topic)
    dev.messages.clear()
    return got[0][0].rsplit("/", 1)[1], json.loads(got[0][1])


@pytest.fixture(scope="module")
def fleet(env):
    d, iot, base = env
    name = helpers.unique_id("FleetTmpl")
    pol = "FLEETPOLICY"
    iot.create_policy(policyName=pol, policyDocument=policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": ARN + "client/${iot:Connection.Thing.ThingName}"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": ARN + "topic/dt/*"}))
    body = json.dumps(FLEET_TEMPLATE).replace("FLEETPOLICY", pol)
    iot.create_provisioning_template(templateName=name, templateBody=body, enabled=True,
                                     provisioningRoleArn="arn:aws:iam::%s:role/Prov" % ACCOUNT)
    claim = awshelp.new_cert(iot, base, policy_doc=claim_policy(name))
    return name, claim


def claim_device(d, claim, name):
    dev = AwsDevice(d, claim.cert_path, claim.key_path, helpers.unique_id("claim"))
    assert dev.connect() == 0, dev.describe()
    subs = [("$aws/certificates/create/json/+", 1), ("$aws/certificates/create-from-csr/json/+", 1),
            ("$aws/provisioning-templates/%s/provision/json/+" % name, 1)]
    assert dev.subscribe_wait(subs) == [1, 1, 1]
    return dev


def test_fleet_provisioning_by_claim(env, fleet, tmp_path):
    d, iot, base = env
    name, claim = fleet
    be = helpers.Backend(d.broker.port, topic="aws/$aws/#").connect()
    dev = claim_device(d, claim, name)
    other = claim_device(d, claim, name)
    try:
        dev.publish("$aws/certificates/create/json", b"{}", qos=1)
        kind, created = reply(dev, "$aws/certificates/create/json")
        assert kind == "accepted", created
        assert set(created) == {"certificateId", "certificatePem", "privateKey",
                                "certificateOwnershipToken"}
        cid = created["certificateId"]
        assert iot.describe_certificate(certificateId=cid)["certificateDescription"]["status"] == \
            "PENDING_ACTIVATION"
        # Bad token, unknown template: /rejected with AWS's fields.
        dev.publish("$aws/provisioning-templates/%s/provision/json" % name,
                    json.dumps({"certificateOwnershipToken": "forged", "parameters": {}}), qos=1)
        kind, rej = reply(dev, "$aws/provisioning-templates/%s/provision/json" % name)
        assert kind == "rejected" and rej["statusCode"] == 400
        assert rej["errorCode"] == "InvalidCertificateOwnershipToken" and rej["errorMessage"]

        serial = helpers.unique_id("sn")
        dev.publish("$aws/provisioning-templates/%s/provision/json" % name, json.dumps(
            {"certificateOwnershipToken": created["certificateOwnershipToken"],
             "parameters": {"SerialNumber": serial}}), qos=1)
        kind, reg = reply(dev, "$aws/provisioning-templates/%s/provision/json" % name)
        assert kind == "accepted", reg
        assert reg == {"thingName": "fleet-" + serial,
                       "deviceConfiguration": {"telemetryTopic": "dt/" + serial}}
        t = iot.describe_thing(thingName="fleet-" + serial)
        assert t["attributes"] == {"serial": serial, "room": "lobby"}
        arn = iot.describe_certificate(certificateId=cid)["certificateDescription"]["certificateArn"]
        assert iot.list_thing_principals(thingName="fleet-" + serial)["principals"] == [arn]
        # Answers went to the requester alone: not to the other claim
        # device (same subscriptions), not through the broker.
        assert not [m for m in other.messages if m[0].startswith("$aws/certificates/")]
        assert not be.find("aws/$aws/certificates/create/json/accepted")
    finally:
        dev.close()
        other.close()
        be.close()
    # The new identity connects as its thing.
    cp, kp = tmp_path / "fleet.pem", tmp_path / "fleet.key"
    cp.write_text(created["certificatePem"])
    kp.write_text(created["privateKey"])
    dev = AwsDevice(d, str(cp), str(kp), "fleet-" + serial)
    try:
        assert dev.connect() == 0, dev.describe()
        assert dev.publish_acked("dt/" + serial, b"hello", qos=1)
    finally:
        dev.close()


def test_fleet_provisioning_from_csr(env, fleet, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    d, iot, base = env
    name, claim = fleet
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(awshelp._name("my-device")).sign(key, hashes.SHA256())
           .public_bytes(serialization.Encoding.PEM).decode())
    dev = claim_device(d, claim, name)
    try:
        dev.publish("$aws/certificates/create-from-csr/json", b'{"certificateSigningRequest": 1}', qos=1)
        kind, rej = reply(dev, "$aws/certificates/create-from-csr/json")
        assert kind == "rejected" and rej["statusCode"] == 400
        dev.publish("$aws/certificates/create-from-csr/json",
                    json.dumps({"certificateSigningRequest": csr}), qos=1)
        kind, created = reply(dev, "$aws/certificates/create-from-csr/json")
        assert kind == "accepted" and "privateKey" not in created
        serial = helpers.unique_id("csr")
        dev.publish("$aws/provisioning-templates/nosuch/provision/json", b"{}", qos=1)
        assert dev.wait_closed()                  # not in the claim policy: disconnected
    finally:
        dev.close()
    dev = claim_device(d, claim, name)
    try:
        dev.publish("$aws/provisioning-templates/%s/provision/json" % name, json.dumps(
            {"certificateOwnershipToken": created["certificateOwnershipToken"],
             "parameters": {"SerialNumber": serial, "Room": "lab"}}), qos=1)
        kind, reg = reply(dev, "$aws/provisioning-templates/%s/provision/json" % name)
        assert kind == "accepted" and reg["thingName"] == "fleet-" + serial
    finally:
        dev.close()
    assert iot.describe_thing(thingName="fleet-" + serial)["attributes"]["room"] == "lab"
    cp, kp = tmp_path / "csr.pem", tmp_path / "csr.key"
    cp.write_text(created["certificatePem"])
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    dev = AwsDevice(d, str(cp), str(kp), "fleet-" + serial)
    try:
        assert dev.connect() == 0, dev.describe()
    finally:
        dev.close()
