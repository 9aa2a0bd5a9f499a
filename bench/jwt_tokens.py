"""Credentials of the authentication benchmark (bench/run.sh, BENCH=auth):
one HS256 secret and token, one RSA-2048 key as a JWKS file and an RS256
token signed with it, the way an identity provider would issue them.

    /usr/bin/python3 bench/jwt_tokens.py DIR LIFETIME_S ISSUER AUDIENCE

Writes DIR/jwks.json (the public key, kid "bench-rs256") and prints, one a
line:

    hs256_secret=<64 hex characters: ingest's SLUICE_JWT_HS256_SECRET>
    hs256=<token>
    rs256=<token>      (only when python3-cryptography is installed)

Each token says sub "bench", scope "events:write", iss ISSUER, aud AUDIENCE,
iat now and exp LIFETIME_S from now: one pre-signed token sent on every
request. HS256 needs only hmac and hashlib; RS256 needs the `cryptography`
package, and without it the rs256 line is left out and the reason goes to
stderr (the benchmark then skips that variant)."""
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_input(header, claims):
    def part(obj):
        return b64url(json.dumps(obj, separators=(",", ":")).encode())
    return f"{part(header)}.{part(claims)}".encode()


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    out_dir, lifetime, issuer, audience = argv[0], int(argv[1]), argv[2], argv[3]
    now = int(time.time())
    claims = {"sub": "bench", "iss": issuer, "aud": audience, "iat": now, "exp": now + lifetime,
              "scope": "events:write"}

    secret = secrets.token_hex(32)
    msg = signing_input({"alg": "HS256", "typ": "JWT"}, claims)
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    print(f"hs256_secret={secret}")
    print(f"hs256={msg.decode()}.{b64url(sig)}")

    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError as exc:
        print(f"jwt_tokens: no RS256 token ({exc}; Debian: python3-cryptography)", file=sys.stderr)
        return 0
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_numbers()

    def n2b(n):
        return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    jwks = {"keys": [{"kty": "RSA", "kid": "bench-rs256", "alg": "RS256", "use": "sig",
                      "n": n2b(pub.n), "e": n2b(pub.e)}]}
    path = os.path.join(out_dir, "jwks.json")
    with open(path + ".tmp", "w") as f:
        json.dump(jwks, f)
    os.replace(path + ".tmp", path)
    msg = signing_input({"alg": "RS256", "typ": "JWT", "kid": "bench-rs256"}, claims)
    sig = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    print(f"rs256={msg.decode()}.{b64url(sig)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
