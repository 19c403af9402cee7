"""An IRC client that logs in with SASL before registering, for tests/sasl_scramp.rs: the
SCRAM-SHA-256 side is done by the scramp library (pinned in requirements.txt), which also
checks the server's signature; PLAIN is the RFC 4616 message, base64 in 400-byte chunks.

Usage: irc_sasl_client.py HOST PORT MECHANISM ACCOUNT PASSWORD NICK

Prints one line per outcome: "sasl ok ACCOUNT" (900 and 903 came), "sasl fail NUMERIC", or
"scram error: ..." if scramp refused the server's signature; then "welcome NICK" once 001
came, and "account ACCOUNT" if WHOIS of itself shows 330. Exits 0 after QUIT, 2 on a
timeout or an unexpected close.
"""

import base64
import socket
import sys

from scramp import ScramClient

TIMEOUT = 10.0


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                print("closed", flush=True)
                sys.exit(2)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")

    def command(self):
        """The next line's command and parameters (the source and tags dropped)."""
        words = self.line()
        if words.startswith("@"):
            words = words.split(" ", 1)[1]
        if words.startswith(":"):
            words = words.split(" ", 1)[1]
        trailing = None
        if " :" in words:
            words, trailing = words.split(" :", 1)
        parts = words.split()
        if trailing is not None:
            parts.append(trailing)
        return parts[0], parts[1:]

    def authenticate(self, data):
        text = base64.b64encode(data).decode()
        chunks = [text[i : i + 400] for i in range(0, len(text), 400)] or [""]
        for chunk in chunks:
            self.send("AUTHENTICATE " + (chunk or "+"))
        if len(chunks[-1]) == 400:
            self.send("AUTHENTICATE +")

    def challenge(self):
        """The next AUTHENTICATE from the server, decoded; or the numeric that ended it."""
        parts = ""
        while True:
            cmd, params = self.command()
            if cmd == "AUTHENTICATE":
                chunk = params[0]
                if chunk != "+":
                    parts += chunk
                if chunk == "+" or len(chunk) < 400:
                    return base64.b64decode(parts), None
            elif cmd in ("904", "905", "906", "907", "908"):
                if cmd != "908":
                    return None, cmd


def sasl(conn, mechanism, account, password):
    conn.send("AUTHENTICATE " + mechanism)
    _, failed = conn.challenge()
    if failed:
        return "sasl fail " + failed
    if mechanism == "PLAIN":
        conn.authenticate(b"\0" + account.encode() + b"\0" + password.encode())
    else:
        client = ScramClient(["SCRAM-SHA-256"], account, password)
        conn.authenticate(client.get_client_first().encode())
        first, failed = conn.challenge()
        if failed:
            return "sasl fail " + failed
        client.set_server_first(first.decode())
        conn.authenticate(client.get_client_final().encode())
        final, failed = conn.challenge()
        if failed:
            return "sasl fail " + failed
        try:
            client.set_server_final(final.decode())
        except Exception as e:  # scramp raises ScramException on a bad signature
            return f"scram error: {e}"
        conn.send("AUTHENTICATE +")
    got = set()
    while True:
        cmd, params = conn.command()
        if cmd == "900":
            got.add(params[2])
        elif cmd == "903":
            return "sasl ok " + ",".join(sorted(got))
        elif cmd in ("904", "905", "906"):
            return "sasl fail " + cmd


def main():
    host, port, mechanism, account, password, nick = sys.argv[1:7]
    try:
        conn = Conn(host, int(port))
        conn.send("CAP LS 302")
        conn.send("CAP REQ sasl")
        while True:
            cmd, params = conn.command()
            if cmd == "CAP" and params[1] == "ACK":
                break
        print(sasl(conn, mechanism, account, password), flush=True)
        conn.send("CAP END")
        conn.send("NICK " + nick)
        conn.send("USER sasl 0 * :SASL test")
        while True:
            cmd, params = conn.command()
            if cmd == "001":
                print("welcome " + params[0], flush=True)
                break
        conn.send("WHOIS " + nick)
        while True:
            cmd, params = conn.command()
            if cmd == "330":
                print("account " + params[2], flush=True)
            if cmd == "318":
                break
        conn.send("QUIT")
    except socket.timeout:
        print("timeout", flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
