"""SCRAM-SHA-256 client side for tests/sasl_scramp.rs, done by the scramp library.

Usage: scramp_client.py USERNAME PASSWORD
Speaks one message per line on stdout/stdin, each base64 as in AUTHENTICATE:
prints client-first, reads server-first, prints client-final, reads server-final,
then prints "ok" if scramp accepts the server's signature, or "error: ..." otherwise.
"""

import base64
import sys

from scramp import ScramClient


def main():
    username, password = sys.argv[1], sys.argv[2]
    client = ScramClient(["SCRAM-SHA-256"], username, password)

    def send(text):
        print(base64.b64encode(text.encode()).decode(), flush=True)

    def receive():
        line = sys.stdin.readline()
        if not line:
            sys.exit(0)  # the server gave up: nothing more to say
        return base64.b64decode(line.strip()).decode()

    send(client.get_client_first())
    client.set_server_first(receive())
    send(client.get_client_final())
    try:
        client.set_server_final(receive())
    except Exception as e:  # scramp raises ScramException on a bad signature
        print(f"error: {e}", flush=True)
        return
    print("ok", flush=True)


if __name__ == "__main__":
    main()
