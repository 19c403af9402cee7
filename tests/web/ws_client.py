"""An IRC client over WebSocket with the Python `websockets` library (pinned in
tests/web/requirements.txt), for tests/web_python.rs.

    ws_client.py URL SUBPROTOCOL

Prints `open SUBPROTOCOL` once connected (the subprotocol the server chose), then one
`text LINE` or `binary LINE` per message received, as its frame type came. Each line read
from stdin is sent as one message: a text frame for text.ircv3.net, a binary one otherwise.
Ends when stdin closes or the server closes (then prints `closed CODE`).
"""

import sys
import threading

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def main() -> None:
    url, subprotocol = sys.argv[1], sys.argv[2]
    with connect(url, subprotocols=[subprotocol], open_timeout=10) as ws:
        print("open", ws.subprotocol, flush=True)

        def send_stdin() -> None:
            for line in sys.stdin:
                line = line.rstrip("\r\n")
                try:
                    if subprotocol == "text.ircv3.net":
                        ws.send(line)
                    else:
                        ws.send(line.encode())
                except ConnectionClosed:
                    return
            ws.close()

        threading.Thread(target=send_stdin, daemon=True).start()
        try:
            for message in ws:
                if isinstance(message, str):
                    print("text", message, flush=True)
                else:
                    print("binary", message.decode("utf-8", "replace"), flush=True)
        except ConnectionClosed:
            pass
        print("closed", ws.close_code, flush=True)


if __name__ == "__main__":
    main()
