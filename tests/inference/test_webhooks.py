"""Webhook delivery reaches the address that was checked and nothing else (SSRF).

Every loopback address is private, so these tests declare 127.0.0.2 public through
INFERENCE_WEBHOOK_ALLOWED_NETWORKS: the "public" receiver listens there, the "victim" (an internal
service an attacker wants to reach) on 127.0.0.1. DNS answers are simulated by patching the
standard library's socket.getaddrinfo; the connections themselves are real.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import InvalidInput
from inference.serving.predictions.webhooks import (
    HEADER,
    deliver,
    webhook_secret,
    webhook_url_check,
)

PUBLIC, VICTIM = "127.0.0.2", "127.0.0.1"
HOST = "hooks.example.test"


class Server:
    """A loopback HTTP(S) server that records every connection and request it gets."""

    def __init__(self, host: str, port: int = 0, *, status: int = 204, headers: dict | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.connections = 0
        self.requests: list[tuple[str, str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append((self.command, self.path, dict(self.headers)))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        class Counting(ThreadingHTTPServer):
            def verify_request(self, request, client_address):
                server.connections += 1
                return True

        self.httpd = Counting((host, port), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def servers_on_one_port(**public_options) -> tuple[Server, Server]:
    """A public receiver and a victim on the same port, so one URL can name either address."""
    for _ in range(20):
        public = Server(PUBLIC, **public_options)
        try:
            return public, Server(VICTIM, public.port)
        except OSError:  # that port is taken on 127.0.0.1; try another
            public.close()
    raise RuntimeError("no port free on both loopback addresses")


@pytest.fixture
def webhook_settings(settings):
    settings.INFERENCE_WEBHOOK_ALLOW_PRIVATE = False
    settings.INFERENCE_WEBHOOK_ALLOWED_NETWORKS = [f"{PUBLIC}/32"]
    settings.INFERENCE_WEBHOOK_MAX_RETRIES = 0
    settings.INFERENCE_WEBHOOK_TIMEOUT_SECONDS = 5
    return settings


@pytest.fixture
def dns(monkeypatch):
    """Answers for HOST, consumed one per lookup (the last one repeats); other names resolve as usual."""
    answers: list[str] = []
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != HOST:
            return real(host, port, family, type, proto, flags)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        lookups.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def run_delivery(url: str) -> None:
    deliver.apply(args=["pred_test", 1, url])


def test_a_redirect_to_a_private_address_is_not_followed_and_counts_as_failed(webhook_settings):
    victim = Server(VICTIM)
    public = Server(PUBLIC, status=302, headers={"Location": f"http://{VICTIM}:{victim.port}/internal"})
    webhook_settings.INFERENCE_WEBHOOK_MAX_RETRIES = 1
    try:
        run_delivery(f"http://{PUBLIC}:{public.port}/hook")
    finally:
        public.close()
        victim.close()
    assert victim.connections == 0 and victim.requests == []
    assert [method for method, _, _ in public.requests] == ["POST", "POST"], "a 3xx is retried like a failure"


def test_redirects_are_not_followed_even_where_private_addresses_are_allowed(webhook_settings):
    webhook_settings.INFERENCE_WEBHOOK_ALLOW_PRIVATE = True
    webhook_settings.INFERENCE_WEBHOOK_ALLOWED_NETWORKS = []
    victim = Server(VICTIM)
    public = Server(PUBLIC, status=303, headers={"Location": f"http://{VICTIM}:{victim.port}/internal"})
    try:
        run_delivery(f"http://{PUBLIC}:{public.port}/hook")
    finally:
        public.close()
        victim.close()
    assert victim.connections == 0
    assert len(public.requests) == 1


def test_a_host_whose_answer_changes_after_the_check_is_reached_only_at_the_checked_address(webhook_settings, dns):
    answers, lookups = dns
    answers[:] = [PUBLIC, VICTIM]  # the check sees the public address; a second lookup would see the victim
    public, victim = servers_on_one_port()
    try:
        run_delivery(f"http://{HOST}:{public.port}/hook?x=1")
    finally:
        public.close()
        victim.close()
    assert victim.connections == 0
    assert lookups == [PUBLIC], "resolved once, then connected to that address"
    [(method, path, headers)] = public.requests
    assert (method, path) == ("POST", "/hook?x=1")
    assert headers["Host"] == f"{HOST}:{public.port}"
    assert headers[HEADER].startswith("t=")


def test_a_host_with_any_private_answer_is_refused_at_delivery(webhook_settings, monkeypatch):
    public, victim = servers_on_one_port()

    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))
                for address in (PUBLIC, VICTIM)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        run_delivery(f"http://{HOST}:{public.port}/hook")
    finally:
        public.close()
        victim.close()
    assert public.connections == victim.connections == 0


def test_webhook_url_check_names_the_problem():
    with pytest.raises(InvalidInput, match="port"):
        webhook_url_check("https://example.com:99999/hook")
    with pytest.raises(InvalidInput, match="http"):
        webhook_url_check("ftp://example.com/hook")


def test_the_secret_differs_per_organization():
    assert webhook_secret(organization_id=1) != webhook_secret(organization_id=2)


# --- https: the pinned connection still checks the certificate against the URL's host name ---

def _certificate(tmp_path, name: str) -> tuple[str, str]:
    """A self-signed certificate for `name`; returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _tls_server(tmp_path, monkeypatch, cert_name: str) -> Server:
    cert, key = _certificate(tmp_path, cert_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client's default trust store: this certificate
    return Server(PUBLIC, tls=context)


def test_https_delivery_to_the_pinned_address_verifies_the_certificate_for_the_host_name(
        webhook_settings, dns, tmp_path, monkeypatch):
    dns[0][:] = [PUBLIC]
    server = _tls_server(tmp_path, monkeypatch, HOST)
    try:
        run_delivery(f"https://{HOST}:{server.port}/hook")
    finally:
        server.close()
    [(method, _, headers)] = server.requests
    assert method == "POST" and headers["Host"] == f"{HOST}:{server.port}"


def test_https_delivery_fails_when_the_certificate_is_for_another_name(webhook_settings, dns, tmp_path, monkeypatch):
    dns[0][:] = [PUBLIC]
    server = _tls_server(tmp_path, monkeypatch, "other.example.test")
    try:
        run_delivery(f"https://{HOST}:{server.port}/hook")
    finally:
        server.close()
    assert server.requests == []
