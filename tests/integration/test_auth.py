"""Issue 11: who may write what.

Every non-public route answers 401 with WWW-Authenticate and problem+json
without credentials, and 403 with the scope it lacks for a key without its
scope; API keys made through the API work at once (Bearer or X-API-Key),
are listed without their secret, roll (the old key valid for its grace) and
revoke, and a revoked key is refused within 2 s by another ingest replica
sharing the database. Keys never appear in logs or metrics. A per-principal
rate limit trips at its number with 429, Retry-After and the RateLimit
headers, and recovers. Signed webhooks (Standard Webhooks) are accepted and
tampered, stale, unsigned or replayed ones refused. JWTs (RS256 from a JWKS
file, HS256 from a secret) are verified with every claim checked, and the
classic forgeries refused.
"""
import base64
import hashlib
import hmac
import json
import os
import time

import harness
from harness import Http, Proc, StackCase

JSON = {"Content-Type": "application/json"}
NO_KEY = {"Authorization": None}

# (method, path, body) of every route that needs a scope, with the scope it needs.
PROTECTED = [
    ("POST", "/v1/events", {"type": "x"}, "events:write"),
    ("GET", "/v1/events", None, "events:read"),
    ("GET", "/v1/events/00000000-0000-0000-0000-000000000000", None, "events:read"),
    ("GET", "/v1/?contains=x", None, "events:read"),
    ("GET", "/v1/abc", None, "events:read"),
    ("POST", "/v1/recipes", {"name": "x"}, "recipes:write"),
    ("GET", "/v1/recipes", None, "recipes:read"),
    ("GET", "/v1/recipes/abc", None, "recipes:read"),
    ("PUT", "/v1/recipes/abc", {"name": "x"}, "recipes:write"),
    ("PATCH", "/v1/recipes/abc", {"name": "x"}, "recipes:write"),
    ("DELETE", "/v1/recipes/abc", None, "recipes:write"),
    ("POST", "/v1/bulk?collection=events", [], "imports:write"),
    ("GET", "/v1/imports/00000000-0000-0000-0000-000000000000", None, "imports:write"),
    ("POST", "/v1/assistance", {"topic": "sales", "description": "x"}, "request-assistance"),
    ("GET", "/v1/assistance/00000000-0000-0000-0000-000000000000", None, "assistance:read"),
    ("GET", "/v1/deliveries?status=failed", None, "assistance:read"),
    ("POST", "/epoch", None, "epochs:write"),
    ("GET", "/epoch/00000000-0000-0000-0000-000000000000", None, "epochs:read"),
    ("GET", "/v1/dlq/events", None, "admin"),
    ("POST", "/v1/dlq/events/replay", {}, "admin"),
    ("GET", "/v1/status", None, "admin"),
    ("POST", "/v1/keys", {"name": "x", "scopes": ["admin"]}, "admin"),
    ("GET", "/v1/keys", None, "admin"),
    ("POST", "/v1/keys/abc/roll", None, "admin"),
    ("DELETE", "/v1/keys/abc", None, "admin"),
]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/console", "/hello/someone"]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys(StackCase):
    stack_options = {"persist": 1}

    def send(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        h = {**(JSON if body is not None else {}), **(headers or {})}
        return self.http.request(method, path, data, h, retry=True)

    def make_key(self, scopes, name="test", tenant=None, headers=None):
        body = {"name": name, "scopes": scopes, **({"tenant": tenant} if tenant else {})}
        r = self.send("POST", "/v1/keys", body, headers)
        self.expect_status(r, 201, f"POST /v1/keys {body}")
        return r.json()

    def expect_problem(self, r, status, what):
        self.expect_status(r, status, what)
        self.expect_eq(r.header("Content-Type"), "application/problem+json", f"{what}: Content-Type")
        self.expect_eq(r.json()["status"], status, f"{what}: problem status")

    def revoked_key(self):
        made = self.make_key(["events:write"])
        self.expect_status(self.send("DELETE", f"/v1/keys/{made['id']}"), 204, "revoking a key")
        return made["key"]

    def test_two_credentials_refused(self):
        key = self.make_key(["events:write"])["key"]
        for what, headers in (("Authorization and X-API-Key", {"Authorization": f"Bearer {key}", "X-API-Key": key}),):
            r = self.send("POST", "/v1/events", {"type": "x"}, headers)
            self.expect_problem(r, 401, what)
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {key}\r\nAuthorization: Bearer nonsense\r\nContent-Length: 2\r\n\r\n")
        r = self.http.raw(head.encode(), b"{}", "POST", "/v1/events")
        self.expect_problem(r, 401, "two Authorization headers")

    def test_admin_is_the_default_tenants_only(self):
        tenant_all = self.make_key(["*"], tenant="tenant-x")
        self.expect("admin" not in tenant_all["scopes"], "\"*\" for another tenant", "every scope but admin",
                    tenant_all["scopes"])
        r = self.send("GET", "/v1/keys", None, {"Authorization": f"Bearer {tenant_all['key']}"})
        self.expect_problem(r, 403, "GET /v1/keys with another tenant's key")
        r = self.send("POST", "/v1/keys", {"name": "x", "scopes": ["admin"], "tenant": "tenant-x"})
        self.expect_problem(r, 422, "an admin key for another tenant")
        r = self.send("PUT", "/hello/Tenantx", {"dateOfBirth": "2000-01-01"},
                      {"Authorization": f"Bearer {self.make_key(['events:read'])['key']}"})
        self.expect_status(r, 204, "a key without users:write still does what anyone may (public scopes)")

    def test_roll_retried_keeps_the_expiry(self):
        made = self.make_key(["events:write"])
        first = self.send("POST", f"/v1/keys/{made['id']}/roll", {"grace_seconds": 60})
        again = self.send("POST", f"/v1/keys/{made['id']}/roll", {"grace_seconds": 60})
        self.expect_status(again, 201, "a second roll of the same key (a retry)")
        self.expect_eq(again.json()["expires_at"], first.json()["expires_at"],
                       "the retried roll's successor expires as the first one (never)")

    def test_no_credentials_401_on_every_protected_route(self):
        for method, path, body, _ in PROTECTED:
            r = self.send(method, path, body, NO_KEY)
            self.expect_problem(r, 401, f"{method} {path} without credentials")
            self.expect(r.header("WWW-Authenticate", ) and r.header("WWW-Authenticate").startswith("Bearer"),
                        f"{method} {path}: WWW-Authenticate", "Bearer realm=...", r.header("WWW-Authenticate"))

    def test_public_routes_need_nothing(self):
        for path in PUBLIC:
            r = self.send("GET", path, None, NO_KEY)
            self.expect(r.status in (200, 404) and r.status != 401, f"GET {path} without credentials",
                        "not 401", r)

    def test_wrong_scope_403_names_the_scope(self):
        key = self.make_key(["events:read"])["key"]
        for method, path, body, scope in PROTECTED:
            if scope == "events:read":
                continue
            r = self.send(method, path, body, {"Authorization": f"Bearer {key}"})
            self.expect_problem(r, 403, f"{method} {path} with an events:read key")
            self.expect(f'scope="{scope}"' in (r.header("WWW-Authenticate") or ""),
                        f"{method} {path}: the scope it needs in WWW-Authenticate", scope,
                        r.header("WWW-Authenticate"))
        r = self.send("GET", "/v1/events?limit=1", None, {"Authorization": f"Bearer {key}"})
        self.expect_status(r, 200, "GET /v1/events with an events:read key")

    def test_bad_credentials_401(self):
        good = self.make_key(["events:write"])["key"]
        tampered = good[:-7] + ("A" if good[-7] != "A" else "B") + good[-6:]
        cases = {
            "garbage bearer": {"Authorization": "Bearer nonsense"},
            "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
            "empty bearer": {"Authorization": "Bearer "},
            "checksum broken": {"Authorization": f"Bearer {tampered}"},
            "well-formed but revoked": {"X-API-Key": self.revoked_key()},
            "a key's prefix only": {"X-API-Key": good[:30]},
            "SQL in the key": {"X-API-Key": "sk_sluice_' OR 1=1 --"},
        }
        for what, headers in cases.items():
            for path, body in (("/v1/events", {"type": "x"}), ("/hello/public-route", None)):
                r = self.send("POST" if body else "GET", path, body, headers)
                self.expect_problem(r, 401, f"{what} on {path}")
                self.expect("invalid_token" in (r.header("WWW-Authenticate") or ""),
                            f"{what}: error=invalid_token", "invalid_token", r.header("WWW-Authenticate"))

    def test_key_via_x_api_key_and_bearer(self):
        key = self.make_key(["events:write", "events:read"])["key"]
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"},
                        {"Authorization": f"bearer   {key}  "}):
            r = self.send("POST", "/v1/events", {"type": "auth-ok", "t": self.token}, headers)
            self.expect_status(r, 202, f"POST /v1/events with {list(headers)}")

    def test_created_key_shown_once_listed_without_secret(self):
        made = self.make_key(["events:write"], name=f"list-{self.token}", tenant="acme")
        self.expect(made["key"].startswith("sk_sluice_" + made["id"] + "_"), "the key's format",
                    "sk_sluice_<id>_...", made["key"])
        self.expect_eq(made["tenant"], "acme", "the key's tenant")
        self.expect_eq(made["scopes"], ["events:write"], "the key's scopes")
        r = self.send("GET", "/v1/keys")
        self.expect_status(r, 200, "GET /v1/keys")
        listed = [k for k in r.json()["keys"] if k["id"] == made["id"]]
        self.expect_eq(len(listed), 1, "the new key in GET /v1/keys")
        self.expect("key" not in listed[0], "GET /v1/keys shows no secret", "no 'key' member", listed[0])
        self.expect(made["key"] not in r.body.decode(), "GET /v1/keys never contains a key", "absent", "present")
        stored = self.stack.sql_value(f"SELECT encode(hash, 'hex') FROM api_keys WHERE id = '{made['id']}'")
        self.expect_eq(stored.strip(), hashlib.sha256(made["key"].encode()).hexdigest(),
                       "the stored hash is SHA-256 of the key (no pepper configured)")

    def test_invalid_key_requests_422(self):
        for body in ({"scopes": ["admin"]}, {"name": "x", "scopes": []}, {"name": "x", "scopes": ["root"]},
                     {"name": "x", "scopes": ["admin"], "tenant": "Bad Tenant"},
                     {"name": "x", "scopes": ["admin"], "expires_at": "2000-01-01T00:00:00Z"},
                     {"name": "x", "scopes": ["admin"], "owner": "me"}):
            r = self.send("POST", "/v1/keys", body)
            self.expect_problem(r, 422, f"POST /v1/keys {body}")
            self.expect(r.json().get("errors"), f"{body}: errors listed", "errors", r.json())

    def test_roll_keeps_old_for_grace_and_new_works(self):
        made = self.make_key(["events:write"])
        r = self.send("POST", f"/v1/keys/{made['id']}/roll", {"grace_seconds": 3600})
        self.expect_status(r, 201, "POST /v1/keys/{id}/roll")
        new = r.json()
        self.expect(new["id"] != made["id"] and new["scopes"] == made["scopes"], "the successor",
                    "a new id, the same scopes", new)
        for key in (made["key"], new["key"]):
            r = self.send("POST", "/v1/events", {"type": "roll"}, {"X-API-Key": key})
            self.expect_status(r, 202, "a write with the old key in its grace, and with the new one")
        r = self.send("POST", f"/v1/keys/{new['id']}/roll", {"grace_seconds": 0})
        self.expect_status(r, 201, "roll with no grace")
        r = self.send("POST", "/v1/events", {"type": "roll"}, {"X-API-Key": new["key"]})
        self.expect_problem(r, 401, "a key rolled with no grace")
        r = self.send("POST", "/v1/keys/nosuchkey000/roll")
        self.expect_problem(r, 404, "rolling an unknown key")

    def test_revoked_key_refused_within_2s_on_another_replica(self):
        port = harness.free_port()
        env = self.stack.env(SLUICE_LISTEN=f"127.0.0.1:{port}")
        other = Proc("sluice-ingest-b", [os.path.join(harness.BIN, "sluice-ingest")], env,
                     self.stack.log("ingest-b")).start()
        try:
            harness.launch.wait_http(f"http://127.0.0.1:{port}/readyz", 90, other.name, other.log, other.popen)
            made = self.make_key(["events:write"])
            replica = Http("127.0.0.1", port, key=made["key"])
            # Made on the first replica: the second knows it within 2 s too.
            self.wait(lambda: replica.post_json("/v1/events", {"type": "b"}).status == 202, 2,
                      "a key made on replica A accepted by replica B")
            r = self.send("DELETE", f"/v1/keys/{made['id']}")
            self.expect_status(r, 204, "DELETE /v1/keys/{id}")
            revoked_at = time.monotonic()
            self.wait(lambda: replica.post_json("/v1/events", {"type": "b"}).status == 401, 2,
                      "the revoked key refused by replica B within 2 s")
            self.expect(time.monotonic() - revoked_at < 2, "revocation reached replica B", "< 2 s",
                        f"{time.monotonic() - revoked_at:.2f} s")
            r = self.send("POST", "/v1/events", {"type": "a"}, {"X-API-Key": made["key"]})
            self.expect_problem(r, 401, "the revoked key on replica A, at once")
            self.expect_problem(self.send("DELETE", "/v1/keys/nosuchkey000"), 404, "revoking an unknown key")
            replica.close()
        finally:
            problem = other.stop()
            self.assertIsNone(problem, problem)

    def test_last_used_written_in_batches(self):
        made = self.make_key(["events:write"])
        for _ in range(20):
            self.expect_status(self.send("POST", "/v1/events", {"type": "used"}, {"X-API-Key": made["key"]}),
                               202, "a write")
        self.wait(lambda: self.stack.sql_value(
            f"SELECT last_used_at IS NOT NULL FROM api_keys WHERE id = '{made['id']}'") == "t", 15,
            "last_used_at written within two flush periods")

    def test_keys_never_in_logs_or_metrics(self):
        made = self.make_key(["events:write"])
        self.send("POST", "/v1/events", {"type": "x"}, {"X-API-Key": made["key"]})
        self.send("POST", "/v1/events", {"type": "x"}, {"X-API-Key": made["key"][:-1] + "0"})
        metrics = self.send("GET", "/metrics").body.decode()
        secret = made["key"][len("sk_sluice_") + len(made["id"]) + 1:]
        for where, text in (("metrics", metrics), ("ingest log", open(self.stack.log("ingest")).read())):
            for k in (self.stack.api_key, made["key"], secret[:20]):
                self.expect(k not in text, f"a key in the {where}", "absent", "present")


class RateLimit(StackCase):
    stack_options = {"persist": 1, "ingest_env": {"SLUICE_RATE_LIMIT": "5/2"}}

    def test_trips_at_its_number_and_recovers(self):
        # Fresh principal: a key of its own, so nothing else used its quota.
        # events:write only: create_key's probe (GET /v1/keys, 403) uses none of its quota.
        key = self.stack.create_key("limited", "events:write")
        client = Http("127.0.0.1", self.stack.ingest_port, key=key)
        statuses = []
        for i in range(6):
            r = client.post_json("/v1/events", {"type": "rl", "i": i})
            statuses.append(r.status)
            self.expect_eq(r.header("RateLimit-Policy"), '"default";q=5;w=2', f"request {i}: RateLimit-Policy")
            self.expect(r.header("RateLimit", ) and r.header("RateLimit").startswith('"default";r='),
                        f"request {i}: RateLimit", '"default";r=N;t=S', r.header("RateLimit"))
        self.expect_eq(statuses[:5], [202] * 5, "the first five writes")
        self.expect_eq(statuses[5], 429, "the sixth write")
        self.expect(int(r.header("Retry-After") or 0) >= 1, "429 Retry-After", ">= 1", r.header("Retry-After"))
        self.expect_eq(r.header("Content-Type"), "application/problem+json", "429 Content-Type")
        # Another principal is not limited by this one.
        self.expect_status(self.http.post_json("/v1/events", {"type": "rl-other"}), 202, "another key's write")
        self.wait(lambda: client.post_json("/v1/events", {"type": "rl-again"}).status == 202, 5,
                  "the limited key recovers once its window passes")


SOURCE_SECRET = "whsec_" + base64.b64encode(b"a webhook source's secret, 32 b!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the secret before it was rotated").decode()


def webhook_sources(stack):
    path = os.path.join(stack.dir, "sources.json")
    with open(path, "w") as f:
        json.dump({"sources": {"shop": {"secrets": [SOURCE_SECRET, OLD_SECRET], "tenant": "default"}}}, f)
    return path


def sign(secret, msg_id, ts, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class Webhooks(StackCase):
    stack_options = {"persist": 1}

    @classmethod
    def setUpClass(cls):
        cls.stack_options = {"persist": 1, "ingest_env": {}}
        super().setUpClass()
        cls.stack.ingest.stop()
        cls.stack.ingest_env["SLUICE_WEBHOOK_SOURCES_FILE"] = webhook_sources(cls.stack)
        cls.stack.start_ingest()
        cls.http = cls.stack.http()

    def post(self, body, headers):
        return self.http.request("POST", "/v1/events?source=shop", body, {**JSON, **NO_KEY, **headers}, retry=False)

    def signed(self, body, msg_id=None, ts=None, secret=SOURCE_SECRET, prefix="webhook"):
        msg_id = msg_id or f"msg_{self.token}_{time.monotonic_ns()}"
        ts = str(int(time.time()) if ts is None else ts)
        return {f"{prefix}-id": msg_id, f"{prefix}-timestamp": ts, f"{prefix}-signature": sign(secret, msg_id, ts, body)}

    def test_signed_accepted_and_webhook_id_is_the_idempotency_key(self):
        body = json.dumps({"type": "order.paid", "t": self.token}).encode()
        h = self.signed(body, msg_id=f"msg_{self.token}")
        r = self.post(body, h)
        self.expect_status(r, 202, "a signed webhook")
        # The sender retries: same webhook-id, a new timestamp and signature.
        h2 = self.signed(body, msg_id=f"msg_{self.token}", ts=int(time.time()) + 1)
        r2 = self.post(body, h2)
        self.expect(r2.status in (200, 202), "the sender's retry", "200 or 202", r2)
        self.expect_eq(r2.json()["id"], r.json()["id"], "the retry names the same record")

    def test_svix_headers_and_rotated_secret(self):
        body = json.dumps({"type": "svix", "t": self.token}).encode()
        self.expect_status(self.post(body, self.signed(body, prefix="svix")), 202, "svix- headers")
        h = self.signed(body, secret=OLD_SECRET)
        h["webhook-signature"] = "v1,bm90IHRoaXMgb25l " + h["webhook-signature"]
        self.expect_status(self.post(body, h), 202, "several signatures, one by the older secret")

    def test_tampered_stale_replayed_unsigned_401(self):
        body = json.dumps({"type": "x", "t": self.token}).encode()
        good = self.signed(body)
        cases = {
            "tampered body": (body.replace(b"x", b"y"), good),
            "stale timestamp": (body, self.signed(body, ts=int(time.time()) - 600)),
            "future timestamp": (body, self.signed(body, ts=int(time.time()) + 600)),
            "signed with another secret": (body, self.signed(body, secret="whsec_" + base64.b64encode(b"x" * 32).decode())),
            "unsigned": (body, {}),
            "no timestamp": (body, {k: v for k, v in good.items() if k != "webhook-timestamp"}),
            "garbage signature": (body, {**good, "webhook-signature": "v1,!!!"}),
        }
        for what, (b, h) in cases.items():
            r = self.post(b, h)
            self.expect_status(r, 401, what)
        self.expect_status(self.post(body, good), 202, "the genuine request")
        self.expect_status(self.post(body, good), 401, "the same request replayed")
        r = self.http.request("POST", "/v1/events?source=nosuch", body, {**JSON, **NO_KEY, **good})
        self.expect_status(r, 401, "an unknown source")


class Jwt(StackCase):
    stack_options = {"persist": 1, "notify": 1,
                     "routing": {"channels": {"l": {"type": "log", "path": "/dev/null"}},
                                 "topics": {"sales": {"channels": ["l"]}}}}
    HS_SECRET = "an HS256 secret that is long enough for its job"

    @classmethod
    def setUpClass(cls):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        super().setUpClass()
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = cls.rsa.public_key().public_numbers()

        def n2b(n):
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))
        jwks = {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": n2b(pub.n), "e": n2b(pub.e)}]}
        path = os.path.join(cls.stack.dir, "jwks.json")
        with open(path, "w") as f:
            json.dump(jwks, f)
        cls.public_pem = cls.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        cls.stack.ingest.stop()
        cls.stack.ingest_env.update({"SLUICE_JWT_JWKS": path, "SLUICE_JWT_HS256_SECRET": cls.HS_SECRET,
                                     "SLUICE_JWT_ISSUER": "https://issuer.test", "SLUICE_JWT_AUDIENCE": "sluice"})
        cls.stack.start_ingest()
        cls.http = cls.stack.http()

    def make_jwt(self, claims=None, alg="RS256", key=None, kid="k1", header=None):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        now = int(time.time())
        body = {"sub": "svc-a", "iss": "https://issuer.test", "aud": "sluice", "exp": now + 300, "iat": now,
                "scope": "events:write events:read", **(claims or {})}
        body = {k: v for k, v in body.items() if v is not None}
        head = header or {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
        signing = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(body).encode())}".encode()
        if alg == "RS256":
            sig = (key or self.rsa).sign(signing, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "HS256":
            sig = hmac.new(key if key is not None else self.HS_SECRET.encode(), signing, hashlib.sha256).digest()
        else:
            sig = b""
        return f"{signing.decode()}.{b64url(sig)}"

    def post(self, token, path="/v1/events", body=None):
        return self.http.request("POST", path, json.dumps(body or {"type": "jwt"}).encode(),
                                 {**JSON, "Authorization": f"Bearer {token}"}, retry=False)

    def test_valid_tokens_accepted(self):
        self.expect_status(self.post(self.make_jwt()), 202, "an RS256 token from the JWKS")
        self.expect_status(self.post(self.make_jwt(alg="HS256", kid=None)), 202, "an HS256 token")
        r = self.http.request("GET", "/v1/events?limit=1", None, {"Authorization": f"Bearer {self.make_jwt()}"})
        self.expect_status(r, 200, "a read with events:read")

    def test_forged_and_out_of_date_tokens_401(self):
        now = int(time.time())
        cases = {
            "expired": self.make_jwt({"exp": now - 3600}),
            "not yet valid": self.make_jwt({"nbf": now + 3600}),
            "no exp": self.make_jwt({"exp": None}),
            "wrong audience": self.make_jwt({"aud": "someone-else"}),
            "wrong issuer": self.make_jwt({"iss": "https://evil.test"}),
            "signed by another key": self.make_jwt(key=self.other),
            "alg none": self.make_jwt(alg="none"),
            "HS256 signed with the RSA public key": self.make_jwt(alg="HS256", kid="k1", key=self.public_pem),
            "unknown kid": self.make_jwt(kid="nope"),
            "no sub": self.make_jwt({"sub": None}),
            "truncated": self.make_jwt()[:-10],
        }
        for what, tok in cases.items():
            r = self.post(tok)
            self.expect_status(r, 401, what)
            self.expect("invalid_token" in (r.header("WWW-Authenticate") or ""), f"{what}: invalid_token",
                        "invalid_token", r.header("WWW-Authenticate"))
            sig = tok.split(".")[-1]
            self.expect(not sig or sig not in r.body.decode(), f"{what}: the answer repeats no signature",
                        "absent", r.body[:300])
        good = self.make_jwt()
        self.expect_status(self.post(good), 202, "a valid token")
        with open(self.stack.log("ingest")) as f:
            log = f.read()
        for what, tok in [*cases.items(), ("valid", good)]:
            sig = tok.split(".")[-1]
            self.expect(tok.split(".")[1] not in log and (not sig or sig[:20] not in log),
                        f"the {what} token in ingest's log", "absent", "present")

    def test_request_assistance_scope_posts_assistance_and_nothing_else(self):
        tok = self.make_jwt({"scope": "request-assistance"})
        r = self.post(tok, "/v1/assistance", {"topic": "sales", "description": f"help {self.token}"})
        self.expect_status(r, 202, "POST /v1/assistance with request-assistance")
        self.expect_status(self.post(tok), 403, "POST /v1/events with request-assistance only")
        r = self.http.request("GET", f"/v1/assistance/{r.json()['id']}", None, {"Authorization": f"Bearer {tok}"})
        self.expect_status(r, 403, "GET /v1/assistance/{id} with request-assistance only")


class Tenants(StackCase):
    """Two tenants' keys: the same external id is two records, and neither
    tenant reads the other's events (by id, external id, query), imports,
    recipes, epochs or users."""
    stack_options = {"persist": 1}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = Http("127.0.0.1", cls.stack.ingest_port, key=cls.stack.create_key("a", "*", "tenant-a"))
        cls.b = Http("127.0.0.1", cls.stack.ingest_port, key=cls.stack.create_key("b", "*", "tenant-b"))

    WAIT = {"Prefer": "wait=10"}

    def test_same_external_id_two_records_and_no_cross_reads(self):
        ra = self.a.post_json("/v1/events", {"id": f"x-{self.token}", "who": "a", "t": self.token}, self.WAIT)
        rb = self.b.post_json("/v1/events", {"id": f"x-{self.token}", "who": "b", "t": self.token}, self.WAIT)
        self.expect_status(ra, 201, "tenant A's event")
        self.expect_status(rb, 201, "tenant B's event with the same id: a new record, not a version")
        self.expect(ra.json()["id"] != rb.json()["id"], "the two tenants' ids", "different", (ra.json(), rb.json()))
        self.expect_status(self.b.get(f"/v1/events/{ra.json()['id']}"), 404, "B reads A's event by id")
        r = self.b.get(f"/v1/events/x-{self.token}")
        self.expect_status(r, 200, "B reads its own by external id")
        self.expect_eq(r.json()["body"]["who"], "b", "B's external id names B's event")
        r = self.a.get(f"/v1/events?contains={self.token}")
        self.expect_eq([e["body"]["who"] for e in r.json()["items"]], ["a"], "A's query sees only A's")
        r = self.http.get(f"/v1/events?contains={self.token}")
        self.expect_eq(r.json()["items"], [], "the default tenant sees neither")
        self.expect_eq(self.stack.sql_value(f"SELECT count(*) FROM events WHERE body->>'t' = '{self.token}'"), "2",
                       "two rows")

    def test_idempotency_keys_are_per_tenant(self):
        key = {"Idempotency-Key": f"k-{self.token}"}
        ra = self.a.post_json("/v1/events", {"type": "a"}, key)
        rb = self.b.post_json("/v1/events", {"type": "b"}, key)
        self.expect(ra.status == 202 and rb.status == 202, "the same key in two tenants, two bodies",
                    "202 both (not 422)", (ra, rb))
        self.expect(ra.json()["id"] != rb.json()["id"], "two records", "different ids", (ra.json(), rb.json()))

    def test_imports_recipes_epochs_users_assistance_stay_in_their_tenant(self):
        r = self.a.request("POST", "/v1/bulk", json.dumps([{"id": 1, "t": self.token}]).encode(), JSON)
        self.expect_status(r, 202, "A's import")
        self.expect_status(self.b.get(f"/v1/imports/{r.json()['import_id']}"), 404, "B reads A's import")
        self.expect_status(self.a.get(f"/v1/imports/{r.json()['import_id']}"), 200, "A reads its import")
        r = self.a.post_json("/v1/recipes", {"title": f"Pesto {self.token}", "ingredients": [
            {"name": "basil", "quantity": 1, "unit": "bunch"}], "steps": ["Mix"]}, self.WAIT)
        self.expect(r.status in (201, 202), "A's recipe", "201", r)
        rid = r.json()["id"]
        self.expect_status(self.b.get(f"/v1/recipes/{rid}"), 404, "B reads A's recipe")
        self.expect_status(self.b.request("DELETE", f"/v1/recipes/{rid}"), 404, "B deletes A's recipe")
        self.expect_status(self.a.get(f"/v1/recipes/{rid}"), 200, "A's recipe is still there")
        r = self.a.request("POST", "/epoch")
        self.expect_status(r, 201, "A's epoch")
        self.expect_status(self.b.get(f"/epoch/{r.json()['key']}"), 404, "B reads A's epoch")
        self.expect_status(self.a.request("PUT", "/hello/Tenantann", json.dumps({"dateOfBirth": "2000-01-01"}).encode(),
                                          JSON), 204, "A's user")
        self.expect_status(self.b.get("/hello/Tenantann"), 404, "B reads A's user")
        self.expect_status(self.a.get("/hello/Tenantann"), 200, "A reads its user")


class RouteBodyLimits(StackCase):
    """Routes that read small bodies refuse more at once, as 413 a client
    that sends it all first still reads."""
    stack_options = {"persist": 1}

    def test_small_routes_refuse_big_bodies(self):
        for method, path, limit in (("POST", "/v1/keys", 16), ("PUT", "/hello/Someone", 4), ("POST", "/epoch", 4),
                                    ("POST", "/v1/assistance", 64)):
            body = json.dumps({"pad": "x" * (limit * 1024)}).encode()
            r = self.http.request(method, path, body, JSON, retry=False)
            self.expect_status(r, 413, f"{method} {path} with {len(body)} bytes (limit {limit} KiB)")
            self.expect(f"{limit * 1024} bytes" in r.json()["detail"], f"{method} {path}: the limit in the detail",
                        f"{limit * 1024} bytes", r.json()["detail"])
        r = self.http.request("POST", "/v1/events", json.dumps({"pad": "x" * 70000}).encode(), JSON, retry=False)
        self.expect_status(r, 202, "POST /v1/events takes 70 KB as before")
