"""Issue 11 item 6: optional TLS on ingest.

With SLUICE_TLS_CERT and SLUICE_TLS_KEY, ingest serves HTTPS only: curl and
Python verify its certificate and get answers (an authenticated write
included), TLS 1.2 and 1.3 are offered and TLS 1.1 refused, plain HTTP on
the port gets no answer and harms nothing, and a replacement ingest takes the
port over with SO_REUSEPORT while the old one stops cleanly. A wrong setting
(one of the two, a missing file, a key that is not the certificate's) stops
ingest at start with one line naming the file.

The harness waits for http://.../readyz, which a TLS port never answers, so
this module starts ingest itself (Stack(ingest=False)) and waits over HTTPS.
"""
import http.client
import json
import os
import ssl
import subprocess
import warnings

import harness
from harness import Abort, Proc, StackCase, wait_until

JSON = {"Content-Type": "application/json"}


def openssl(*args):
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {out.stderr.strip()}")


class Tls(StackCase):
    stack_options = {"persist": 0, "ingest": False}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.stack.dir
        cls.cert, cls.key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        cls.other_key = os.path.join(d, "other-key.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", cls.key, "-out", cls.cert)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", cls.other_key)
        cls.stack.ingest_port = harness.free_port()
        cls.stack.ingest = cls.start_tls_ingest("ingest")
        cls.bad_starts = 0

    @classmethod
    def tls_env(cls, port, **extra):
        settings = {"SLUICE_LISTEN": f"127.0.0.1:{port}", "SLUICE_TLS_CERT": cls.cert, "SLUICE_TLS_KEY": cls.key}
        settings.update(extra)
        return cls.stack.env(**{k: v for k, v in settings.items() if v is not None})

    @classmethod
    def start_tls_ingest(cls, log):
        proc = Proc("sluice-ingest", [os.path.join(harness.BIN, "sluice-ingest")],
                    cls.tls_env(cls.stack.ingest_port), cls.stack.log(log)).start()
        state = {}

        def ready():
            if not proc.alive():
                raise Abort(f"sluice-ingest exited with {proc.popen.returncode}; see {proc.log}")
            try:
                state["last"] = cls.https("GET", "/readyz")
            except (OSError, http.client.HTTPException) as exc:
                state["last"] = repr(exc)
                return False
            return state["last"][0] == 200

        wait_until(ready, 90, lambda: f"sluice-ingest to answer 200 to GET https://.../readyz "
                                      f"(last: {state.get('last')}); see {proc.log}")
        return proc

    @classmethod
    def context(cls, version=None):
        ctx = ssl.create_default_context(cafile=cls.cert)
        if version is not None:
            ctx.minimum_version = ctx.maximum_version = version
        return ctx

    @classmethod
    def https(cls, method, path, body=None, headers=None, ctx=None):
        """(status, headers, body, negotiated TLS version) of one request on a
        new connection."""
        conn = http.client.HTTPSConnection("127.0.0.1", cls.stack.ingest_port, timeout=10,
                                           context=ctx or cls.context())
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.headers, r.read(), conn.sock.version()
        finally:
            conn.close()

    def tearDown(self):
        ingest = self.stack.ingest
        self.expect(ingest.alive(), "sluice-ingest still running", "alive",
                    f"exited with {ingest.popen.poll()}; see {ingest.log}")

    def test_curl_healthz_with_the_certificate(self):
        url = f"https://127.0.0.1:{self.stack.ingest_port}/healthz"
        out = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", self.cert, "-o", "/dev/null",
                              "-w", "%{http_code}", url], capture_output=True, text=True, timeout=30)
        self.expect(out.returncode == 0 and out.stdout == "200", f"curl --cacert cert.pem {url}", "200",
                    f"exit {out.returncode}, {out.stdout!r}, {out.stderr.strip()!r}")
        # Without the certificate curl cannot verify the server: TLS is really on.
        out = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", url],
                             capture_output=True, text=True, timeout=30)
        self.expect_eq(out.returncode, 60, f"curl {url} without --cacert (60: peer certificate not verified)")

    def test_write_with_the_stack_key_over_https(self):
        body = json.dumps({"type": "tls", "t": self.token}).encode()
        auth = {"Authorization": f"Bearer {self.stack.api_key}"}
        status, headers, data, version = self.https("POST", "/v1/events", body, {**JSON, **auth})
        self.expect(status == 202, "POST /v1/events over HTTPS with the stack's key", "202",
                    f"{status} {data[:300]!r}")
        rid = json.loads(data)["id"]
        self.expect_eq(headers.get("Location"), f"/v1/events/{rid}", "Location of the 202")
        self.expect(version in ("TLSv1.2", "TLSv1.3"), "negotiated TLS version", "TLSv1.2 or TLSv1.3", version)
        # Authentication works as over plain HTTP.
        status, _, data, _ = self.https("POST", "/v1/events", body, JSON)
        self.expect(status == 401, "POST /v1/events over HTTPS without credentials", "401", f"{status} {data[:300]!r}")

    def test_tls12_and_tls13_accepted(self):
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            status, _, data, got = self.https("GET", "/healthz", ctx=self.context(version))
            self.expect(status == 200 and got == name, f"GET /healthz with a client offering only {name}",
                        f"200 over {name}", f"{status} over {got}: {data[:200]!r}")

    def test_tls11_refused(self):
        def legacy(version):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1
                ctx = self.context(version)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.1 only at level 0
            return ctx

        try:
            ctx = legacy(ssl.TLSVersion.TLSv1_1)
        except (ssl.SSLError, ValueError) as exc:
            self.skipTest(f"the local OpenSSL cannot be made to offer TLS 1.1 ({exc!r})")
        try:
            result = self.https("GET", "/healthz", ctx=ctx)
        except ssl.SSLError as exc:
            if exc.reason == "NO_PROTOCOLS_AVAILABLE":
                self.skipTest(f"the local OpenSSL cannot offer TLS 1.1 ({exc})")
            # libmicrohttpd closes a connection whose handshake failed without
            # an alert: the client sees the end of the stream.
        except ConnectionResetError:
            pass
        else:
            self.fail(f"a client offering only TLS 1.1 got an answer: {result[:2]}")
        # The same client settings with TLS 1.2 get through: the version was refused.
        status, _, _, got = self.https("GET", "/healthz", ctx=legacy(ssl.TLSVersion.TLSv1_2))
        self.expect(status == 200 and got == "TLSv1.2", "the same client offering TLS 1.2 instead",
                    "200 over TLSv1.2", f"{status} over {got}")

    def test_plain_http_to_the_tls_port_gets_no_answer(self):
        for attempt in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", self.stack.ingest_port, timeout=10)
            try:
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                got = f"HTTP {r.status} {r.read()[:100]!r}"
            except (http.client.HTTPException, OSError) as exc:
                got = None
                if isinstance(exc, TimeoutError):
                    got = f"no close within 10 s ({exc!r})"
            finally:
                conn.close()
            self.expect(got is None, f"plain GET http://.../healthz to the TLS port (attempt {attempt + 1})",
                        "the connection closed without an HTTP answer", got)
        status, _, _, _ = self.https("GET", "/healthz")
        self.expect_eq(status, 200, "GET https://.../healthz after the plain HTTP attempts")

    def bad_start(self, what, expected, **settings):
        """Starts an ingest with `settings` over the TLS ones and expects it to
        exit nonzero at start with a line containing `expected`."""
        Tls.bad_starts += 1
        port = harness.free_port()
        proc = Proc("sluice-ingest", [os.path.join(harness.BIN, "sluice-ingest")], self.tls_env(port, **settings),
                    self.stack.log(f"ingest-bad-{Tls.bad_starts}")).start()
        try:
            wait_until(lambda: not proc.alive(), 90, f"sluice-ingest with {what} to exit; see {proc.log}")
        finally:
            if proc.alive():
                proc.kill()
            harness.launch.release_ports([port])
        rc = proc.popen.returncode
        self.expect(rc not in (0, None), f"exit status of sluice-ingest with {what}", "nonzero", rc)
        with open(proc.log, errors="replace") as f:
            errors = [line for line in f if '"level":"error"' in line.replace(" ", "")]
        self.expect(any(expected in line for line in errors), f"the error line of sluice-ingest with {what}",
                    f"an error line containing {expected!r}", errors)
        self.expect(all(not line.startswith("==") for line in errors), "no sanitizer report", "none", proc.log)

    def test_mismatched_key_refused_at_start(self):
        self.bad_start("another certificate's key",
                       f"SLUICE_TLS_KEY={self.other_key}: not the key of the certificate in "
                       f"SLUICE_TLS_CERT={self.cert}", SLUICE_TLS_KEY=self.other_key)

    def test_wrong_settings_refused_at_start(self):
        missing = os.path.join(self.stack.dir, "nosuch.pem")
        self.bad_start("a missing certificate file", f"SLUICE_TLS_CERT={missing}: cannot open",
                       SLUICE_TLS_CERT=missing)
        self.bad_start("the key as the certificate", f"SLUICE_TLS_CERT={self.key}: no PEM certificate",
                       SLUICE_TLS_CERT=self.key)
        self.bad_start("a certificate and no key", "set both or neither (only SLUICE_TLS_CERT is set)",
                       SLUICE_TLS_KEY="")

    def test_replacement_takes_the_port_over(self):
        old = self.stack.ingest
        offset = self.stack.log_offset(old)
        new = self.start_tls_ingest("ingest-2")
        self.stack.ingest = new
        problem = old.stop()
        self.expect(problem is None, "the old TLS ingest stops after SIGTERM", "exit 0", problem)
        with open(old.log, errors="replace") as f:
            f.seek(offset)
            lines = f.read().splitlines()
        self.expect(any("stopped listening" in line for line in lines), "the old ingest's quiesce",
                    "a 'stopped listening' line", old.log)
        steering = [line for line in lines if "cannot steer" in line]
        self.expect(not steering, "the old ingest steered new connections away", "no warning", steering)
        for i in range(5):
            status, _, _, _ = self.https("GET", "/healthz")
            self.expect_eq(status, 200, f"GET https://.../healthz #{i + 1} served by the replacement")
