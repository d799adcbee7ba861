"""Ampora's certificate authority: `ampora ca init`, CSRs from agents (built with the PyPI
`cryptography` package) answered with client certificates, mutual TLS with them, renewal,
revocation and the revocation list, on the real `ampora serve` over loopback."""
import asyncio
import json
import os
import ssl
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from opentelemetry._opamp.proto import opamp_pb2

from conftest import bin_dir
from test_gateway import exchange, run
from test_tls import TLSServer, fixture

A = opamp_pb2.AgentToServer
S = opamp_pb2.ServerToAgent
CAPS = (opamp_pb2.AgentCapabilities_ReportsStatus | opamp_pb2.AgentCapabilities_AcceptsOpAMPConnectionSettings
        | 0x8000)  # ReportsConnectionSettingsStatus (newer than the PyPI schema)
PASSPHRASE = "correct horse battery staple"


def ampora(*args, timeout=30):
    return subprocess.run([str(bin_dir() / "ampora"), *args], capture_output=True, text=True, timeout=timeout)


def ca_init(dbdir, *extra):
    with open(f"{dbdir}/passphrase", "w") as f:
        f.write(PASSPHRASE + "\n")
    out = ampora("ca", "init", "--database", f"sqlite:{dbdir}/ampora.db", "--ca-key-passphrase-file",
                 f"{dbdir}/passphrase", *extra)
    assert out.returncode == 0, out.stderr
    return x509.load_pem_x509_certificate(out.stdout.encode())


class CAServer(TLSServer):
    """A TLS server whose database has an Ampora CA (client certificates optional)."""

    def __init__(self, *args):
        dbdir = tempfile.mkdtemp(prefix="ampora-ca-")
        self.ca = ca_init(dbdir)
        super().__init__("--ca-key-passphrase-file", f"{dbdir}/passphrase", *args, dbdir=dbdir)

    def api(self, method, path):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


@pytest.fixture(params=["uring", "epoll"])
def ca_server(request):
    s = CAServer("--io", request.param, "--advertised-url", "wss://localhost/v1/opamp")
    yield s
    assert s.stop() == 0


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def csr_for(key, common_name, uri=None):
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if uri:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr_message(uid, seq, csr, caps=CAPS):
    m = A(instance_uid=uid, sequence_num=seq, capabilities=caps)
    m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "otelcol"
    m.connection_settings_request.opamp.certificate_request.csr = csr
    return b"\x00" + m.SerializeToString()


def plain_message(uid, seq):
    m = A(instance_uid=uid, sequence_num=seq, capabilities=CAPS)
    m.agent_description.identifying_attributes.add(key="service.name").value.string_value = "otelcol"
    return b"\x00" + m.SerializeToString()


def server_context(cert_pem=None, key=None, tmp=None):
    """Trusts the fixture CA that signed the server certificate; presents a client certificate."""
    ctx = ssl.create_default_context(cafile=fixture("ca.pem"))
    if cert_pem:
        with open(f"{tmp}/agent.pem", "wb") as f:
            f.write(cert_pem)
        with open(f"{tmp}/agent.key", "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        ctx.load_cert_chain(f"{tmp}/agent.pem", f"{tmp}/agent.key")
    return ctx


def check_issued(reply, ca, uid_text):
    """The certificate in an offer: for this agent, client auth only, signed by the Ampora CA."""
    offer = reply.connection_settings.opamp.certificate
    assert offer.cert.startswith(b"-----BEGIN CERTIFICATE-----"), reply
    assert not offer.private_key, "the agent keeps its key: the server never sends one"
    assert x509.load_pem_x509_certificate(offer.ca_cert) == ca
    cert = x509.load_pem_x509_certificate(offer.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == uid_text
    assert cert.issuer == ca.subject
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    return cert


def test_ca_init_stores_a_ca_once(tmp_path):
    db = f"sqlite:{tmp_path}/ampora.db"
    refused = ampora("ca", "init", "--database", db)
    assert refused.returncode != 0 and "--ca-key-file" in refused.stderr, "the key's place must be chosen"
    out = ampora("ca", "init", "--database", db, "--ca-key-file", f"{tmp_path}/ca.key")
    assert out.returncode == 0, out.stderr
    ca = x509.load_pem_x509_certificate(out.stdout.encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey) and ca.public_key().curve.name == "secp256r1"
    assert stat.S_IMODE(os.stat(f"{tmp_path}/ca.key").st_mode) == 0o600
    again = ampora("ca", "init", "--database", db, "--ca-key-file", f"{tmp_path}/other.key")
    assert again.returncode == 1 and "already has a CA" in again.stderr
    shown = ampora("ca", "show", "--database", db)
    assert shown.returncode == 0 and x509.load_pem_x509_certificate(shown.stdout.encode()) == ca
    forced = ampora("ca", "init", "--database", db, "--ca-key-file", f"{tmp_path}/ca.key", "--force")
    assert forced.returncode == 0 and x509.load_pem_x509_certificate(forced.stdout.encode()) != ca


def test_an_encrypted_ca_key_needs_its_passphrase(tmp_path):
    ca_init(tmp_path)
    out = ampora("serve", "--database", f"sqlite:{tmp_path}/ampora.db", "--opamp-listen", "127.0.0.1:0",
                 "--http-listen", "127.0.0.1:0")
    assert out.returncode != 0 and "--ca-key-passphrase-file" in out.stderr
    with open(f"{tmp_path}/wrong", "w") as f:
        f.write("not the passphrase\n")
    out = ampora("serve", "--database", f"sqlite:{tmp_path}/ampora.db", "--opamp-listen", "127.0.0.1:0",
                 "--http-listen", "127.0.0.1:0", "--ca-key-passphrase-file", f"{tmp_path}/wrong")
    assert out.returncode != 0 and "decrypting the CA key" in out.stderr


def test_csr_then_mutual_tls_with_the_issued_certificate(ca_server, tmp_path):
    uid = uuid.uuid4()
    key = new_key()

    async def go():
        async with websockets.connect(ca_server.wss_url, ssl=server_context()) as ws:
            reply = await exchange(ws, csr_message(uid.bytes, 0, csr_for(key, str(uid))))
            assert not reply.HasField("error_response"), reply.error_response
            assert reply.capabilities & opamp_pb2.ServerCapabilities_AcceptsConnectionSettingsRequest
            cert = check_issued(reply, ca_server.ca, str(uid))
            # Valid for --agent-cert-lifetime (30 days by default).
            assert abs((cert.not_valid_after_utc - cert.not_valid_before_utc).days - 30) <= 1
            assert reply.connection_settings.opamp.destination_endpoint == "wss://localhost/v1/opamp"
        ctx = server_context(reply.connection_settings.opamp.certificate.cert, key, tmp_path)
        async with websockets.connect(ca_server.wss_url, ssl=ctx) as ws:
            again = await exchange(ws, plain_message(uid.bytes, 1))
            assert not again.HasField("error_response"), "the issued certificate speaks for its agent"
        # Another agent's key with the same uid cannot.
        other = issued_over_https(ca_server, tmp_path)
        async with websockets.connect(ca_server.wss_url, ssl=server_context(other[0], other[1], tmp_path)) as ws:
            stolen = await exchange(ws, plain_message(uid.bytes, 2))
            assert stolen.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest

    run(go())
    assert ca_server.metrics()["ampora_agent_certificates_issued_total"] >= 2


def issued_over_https(server, tmp_path):
    """A certificate the CA issued to a second agent (over plain HTTPS polling this time)."""
    uid = uuid.uuid4()
    key = new_key()
    request = urllib.request.Request(server.https_url, data=csr_message(uid.bytes, 0, csr_for(key, str(uid)))[1:],
                                     headers={"Content-Type": "application/x-protobuf"}, method="POST")
    with urllib.request.urlopen(request, timeout=10, context=server_context()) as r:
        reply = S()
        reply.ParseFromString(r.read())
    check_issued(reply, server.ca, str(uid))
    return reply.connection_settings.opamp.certificate.cert, key


@pytest.mark.parametrize("case", ["garbage", "other_uid_cn", "other_uid_san", "weak_rsa", "no_capability"])
def test_bad_certificate_requests_get_bad_request(ca_server, case):
    uid = uuid.uuid4()
    key = new_key()
    caps = CAPS
    if case == "garbage":
        csr, words = b"-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n", "not a PEM"
    elif case == "other_uid_cn":
        csr, words = csr_for(key, str(uuid.uuid4())), "not for this agent"
    elif case == "other_uid_san":
        csr, words = csr_for(key, "collector", uri=f"urn:uuid:{uuid.uuid4()}"), "not for this agent"
    elif case == "weak_rsa":
        csr, words = csr_for(rsa.generate_private_key(65537, 1024), str(uid)), "too weak"
    else:
        csr, words, caps = csr_for(key, str(uid)), "AcceptsOpAMPConnectionSettings", opamp_pb2.AgentCapabilities_ReportsStatus

    async def go():
        async with websockets.connect(ca_server.wss_url, ssl=server_context()) as ws:
            reply = await exchange(ws, csr_message(uid.bytes, 0, csr, caps=caps))
            assert reply.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest
            assert words in reply.error_response.error_message
            assert not reply.connection_settings.opamp.HasField("certificate")
            # The connection goes on: the agent may send a good CSR next.
            good = await exchange(ws, csr_message(uid.bytes, 1, csr_for(key, str(uid))))
            check_issued(good, ca_server.ca, str(uid))

    run(go())
    assert ca_server.metrics()["ampora_agent_certificate_requests_refused_total"] >= 1


def test_revocation_closes_the_agent_refuses_its_certificate_and_lists_it(ca_server, tmp_path):
    uid = uuid.uuid4()
    key = new_key()

    async def go():
        async with websockets.connect(ca_server.wss_url, ssl=server_context()) as ws:
            reply = await exchange(ws, csr_message(uid.bytes, 0, csr_for(key, str(uid))))
        cert_pem = reply.connection_settings.opamp.certificate.cert
        ctx = server_context(cert_pem, key, tmp_path)
        async with websockets.connect(ca_server.wss_url, ssl=ctx) as ws:
            await exchange(ws, plain_message(uid.bytes, 1))
            status, _ = ca_server.api("POST", f"/api/v1/agents/{uid}/revoke")
            assert status == 204
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        with pytest.raises((websockets.ConnectionClosed, websockets.InvalidHandshake, ssl.SSLError, OSError)):
            async with websockets.connect(ca_server.wss_url, ssl=ctx) as ws:
                await exchange(ws, plain_message(uid.bytes, 2))
        return x509.load_pem_x509_certificate(cert_pem)

    cert = run(go())
    status, body = ca_server.api("GET", "/api/v1/ca/crl.pem")
    assert status == 200
    crl = x509.load_pem_x509_crl(body)
    assert crl.is_signature_valid(ca_server.ca.public_key())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert ca_server.api("POST", f"/api/v1/agents/{uid}/revoke")[0] == 404, "nothing left to revoke"
    assert ca_server.api("POST", "/api/v1/agents/not-a-uid/revoke")[0] == 400
    m = ca_server.metrics()
    assert m['ampora_tls_handshake_failures_total{reason="revoked"}'] >= 1
    assert m["ampora_revoked_disconnects_total"] >= 1


def test_a_revoked_agent_cannot_enroll_again_or_get_a_new_certificate(tmp_path):
    """T4: an agent enrolled with a token, revoked, still holds the token and a fresh key. It is
    refused on every connection (its CSR is never signed) until an operator readmits it; its
    revoked certificate stays refused after that."""
    s = CAServer("--require-enrollment")
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{s.http_port}/api/v1/tokens", method="POST",
                                         data=b'{"uses": 5}', headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            token = json.loads(r.read())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        uid = uuid.uuid4()

        async def csr_over_token(seq):
            async with websockets.connect(s.wss_url, ssl=server_context(), additional_headers=headers) as ws:
                return await exchange(ws, csr_message(uid.bytes, seq, csr_for(new_key(), str(uid))))

        async def go():
            cert = check_issued(await csr_over_token(0), s.ca, str(uid))
            assert s.api("POST", f"/api/v1/agents/{uid}/revoke")[0] == 204
            for seq in (1, 2):
                refused = await csr_over_token(seq)
                assert refused.error_response.type == opamp_pb2.ServerErrorResponseType_BadRequest
                assert refused.error_response.error_message == "this agent was revoked by an operator"
                assert not refused.connection_settings.opamp.HasField("certificate")
            assert s.api("POST", f"/api/v1/agents/{uid}/revoke")[0] == 404, "revoked already"
            assert s.api("DELETE", f"/api/v1/agents/{uid}/revocation")[0] == 204
            assert s.api("DELETE", f"/api/v1/agents/{uid}/revocation")[0] == 404, "not revoked any more"
            again = check_issued(await csr_over_token(3), s.ca, str(uid))
            assert again.serial_number != cert.serial_number
            return cert

        cert = run(go())
        _, body = s.api("GET", "/api/v1/ca/crl.pem")
        assert x509.load_pem_x509_crl(body).get_revoked_certificate_by_serial_number(cert.serial_number) is not None
        assert s.api("POST", f"/api/v1/agents/{uuid.uuid4()}/revoke")[0] == 404, "an agent never seen"
        m = s.metrics()
        assert m['ampora_opamp_messages_rejected_total{reason="revoked"}'] == 2
        assert m["ampora_agent_certificates_issued_total"] == 2
        # Both readmissions are audited, the second as failed (the entries are written by a queue).
        deadline = time.time() + 10
        while (audit := json.loads(s.api("GET", "/api/v1/audit?action=agent.readmit")[1]))["total"] < 2:
            assert time.time() < deadline, audit
            time.sleep(0.1)
        assert sorted(e["outcome"] for e in audit["items"]) == ["failed", "ok"], audit
    finally:
        assert s.stop() == 0


def test_certificates_are_renewed_at_two_thirds_of_their_lifetime(tmp_path):
    s = CAServer("--agent-cert-lifetime", "15s")
    try:
        uid = uuid.uuid4()
        key = new_key()

        async def go():
            async with websockets.connect(s.wss_url, ssl=server_context()) as ws:
                first = check_issued(await exchange(ws, csr_message(uid.bytes, 0, csr_for(key, str(uid)))), s.ca,
                                     str(uid))
                # Renewed after 10 s (the check runs every 10 s): pushed over the open connection.
                raw = await asyncio.wait_for(ws.recv(), timeout=25)
                pushed = S()
                pushed.ParseFromString(raw[1:])
                renewed = check_issued(pushed, s.ca, str(uid))
                assert renewed.serial_number != first.serial_number
                assert renewed.public_key() == key.public_key(), "renewal certifies the same key: no new CSR"
                assert renewed.not_valid_after_utc > first.not_valid_after_utc

        run_long(go())
    finally:
        assert s.stop() == 0


def run_long(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=45))


def test_the_ca_certificate_is_served(ca_server):
    status, body = ca_server.api("GET", "/api/v1/ca/certificate.pem")
    assert status == 200 and x509.load_pem_x509_certificate(body) == ca_server.ca
