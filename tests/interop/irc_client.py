"""Interop check: a real third-party IRC client library (the `irc` package from PyPI) talks to
snak. Driven by tests/interop_irc.rs, which plays the native user on the other side.

usage: irc_client.py HOST PORT

It registers as `pybot`, asks for the message-tags and server-time capabilities, joins
#interop, says "hello from python" (with a client-only tag, which a native user cannot see),
waits for the native user's "hello from native" and checks that it came with a `msgid` and a
`time` tag the library parsed, then parts with "bye" and quits. Exit status 0 means every step
happened; each step is printed so a failure shows how far it got.
"""

import sys
import time

import irc.client

ROOM = "#interop"


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    reactor = irc.client.Reactor()
    state = {
        "welcome": False,
        "caps": False,
        "joined": False,
        "heard": False,
        "tagged": False,
        "parted": False,
    }

    def on_welcome(conn, event):
        print("welcome", event.arguments[0], flush=True)
        state["welcome"] = True
        conn.cap("REQ", "message-tags", "server-time")

    def on_cap(conn, event):
        print("cap", event.arguments, flush=True)
        if event.arguments and event.arguments[0] == "ACK":
            acked = event.arguments[1].split() if len(event.arguments) > 1 else []
            state["caps"] = {"message-tags", "server-time"} <= set(acked)
            conn.join(ROOM)

    def on_join(conn, event):
        if irc.client.NickMask(event.source).nick == conn.get_nickname():
            print("joined", event.target, flush=True)
            state["joined"] = True
            conn.send_raw("@+snak.test/greeting=hi PRIVMSG %s :hello from python" % ROOM)

    def on_pubmsg(conn, event):
        who = irc.client.NickMask(event.source).nick
        print("pubmsg", who, event.target, event.arguments[0], flush=True)
        if who == "nat" and event.arguments[0] == "hello from native":
            state["heard"] = True
            tags = {t["key"]: t["value"] for t in (event.tags or [])}
            print("tags", tags, flush=True)
            msgid, when = tags.get("msgid") or "", tags.get("time") or ""
            state["tagged"] = len(msgid) == 16 and when.endswith("Z") and "T" in when
            conn.part(ROOM, "bye")

    def on_part(conn, event):
        if irc.client.NickMask(event.source).nick == conn.get_nickname():
            print("parted", event.target, flush=True)
            state["parted"] = True
            conn.quit("done")

    conn = reactor.server().connect(host, port, "pybot", username="py", ircname="Python irc")
    conn.add_global_handler("welcome", on_welcome)
    conn.add_global_handler("cap", on_cap)
    conn.add_global_handler("join", on_join)
    conn.add_global_handler("pubmsg", on_pubmsg)
    conn.add_global_handler("part", on_part)

    deadline = time.monotonic() + 15
    while not state["parted"] and time.monotonic() < deadline:
        reactor.process_once(0.1)
    # Let the QUIT go out.
    for _ in range(5):
        reactor.process_once(0.05)
    print("state", state, flush=True)
    return 0 if all(state.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
