#!/usr/bin/env python3
"""A foreign program squatting on ports: listens on every given port it can bind on
127.0.0.1 and accepts connections without ever answering (like `nc -lk`), as Debian's own
nats-server, PostgreSQL or Orthanc would sit on their default ports.

    foreign_listeners.py READY_FILE PORT...

Writes the ports it holds, one a line, to READY_FILE once all are listening; runs until
killed. A port another program already listens on is skipped (it is foreign already).
"""
import os
import selectors
import socket
import sys


def main():
    ready, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    sel = selectors.DefaultSelector()
    held = []
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen(64)
        sel.register(s, selectors.EVENT_READ)
        held.append(port)
    tmp = ready + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(f"{p}\n" for p in held))
    os.rename(tmp, ready)
    accepted = []
    while True:
        for key, _ in sel.select():
            conn, _ = key.fileobj.accept()
            accepted.append(conn)  # kept open, never answered


if __name__ == "__main__":
    main()
