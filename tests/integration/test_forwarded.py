"""Issue 9 item 11: X-Forwarded-For sent as several header lines is one list
(RFC 9110 §5.3). Behind a proxy that appends its own line (HAProxy does), the
client's own line comes first; POST /epoch must store the address the trusted
proxy vouched for, not the one the client wrote."""
from harness import StackCase

# The test's socket peer is 127.0.0.1: it plays the trusted proxy.
TRUSTED = "127.0.0.1, 10.0.0.0/8"


class Forwarded(StackCase):
    stack_options = {"ingest_env": {"SLUICE_TRUSTED_PROXIES": TRUSTED}}

    def post_epoch(self, xff_lines):
        head = "POST /epoch HTTP/1.1\r\nHost: sluice\r\nContent-Length: 0\r\nConnection: close\r\n"
        head += "".join(f"X-Forwarded-For: {line}\r\n" for line in xff_lines) + "\r\n"
        r = self.http.raw(head.encode(), method="POST", path="/epoch")
        self.expect(r.status in (201, 202), f"POST /epoch with X-Forwarded-For lines {xff_lines}",
                    "201 or 202", r)
        return r.json()

    def stored_ip(self, key):
        state = {}

        def found():
            state["r"] = self.http.get(f"/epoch/{key}")
            return state["r"].status == 200

        self.wait(found, 60, lambda: f"GET /epoch/{key} to answer 200 (last: {state.get('r')})")
        return state["r"].json()["ip"]

    def test_proxy_line_after_the_clients_line_wins(self):
        # The client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the
        # address it saw on a line of its own.
        j = self.post_epoch(["6.6.6.6", "198.51.100.7"])
        self.expect_eq(j["ip"], "198.51.100.7", "ip of the answer (the proxy's line, not the client's)")
        self.expect_eq(self.stored_ip(j["key"]), "198.51.100.7", "ip stored for the epoch")

    def test_lines_walked_from_the_right_past_trusted_hops(self):
        # Client line, an outer proxy's line, then a trusted inner proxy.
        j = self.post_epoch(["6.6.6.6, 5.5.5.5", "203.0.113.20", "10.1.2.3"])
        self.expect_eq(j["ip"], "203.0.113.20", "ip behind two proxies, the inner one trusted")

    def test_single_line_unchanged(self):
        j = self.post_epoch(["6.6.6.6, 198.51.100.8"])
        self.expect_eq(j["ip"], "198.51.100.8", "ip from one line")
        j = self.post_epoch([])
        self.expect_eq(j["ip"], "127.0.0.1", "ip without X-Forwarded-For (the peer)")
