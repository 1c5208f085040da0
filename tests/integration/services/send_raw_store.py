#!/usr/bin/python3
"""Sends one C-STORE whose dataset is bytes we choose, over a raw socket (DICOM upper layer
written out here), because DCMTK's storescu re-encodes what it sends and refuses to send a
dataset it cannot parse itself. Used to make the receiver meet an unparsable dataset.

Usage: send_raw_store.py HOST PORT CALLED_AE --malformed
Prints "status 0x...." (the C-STORE-RSP's status) and exits 0, or prints why and exits 1.
"""
import socket
import struct
import sys
import uuid

CT_IMAGE = b"1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = b"1.2.840.10008.1.2.1"
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"


def even(b):
    return b + b"\0" if len(b) % 2 else b


def item(kind, body):
    return struct.pack(">BBH", kind, 0, len(body)) + body


def pdu(kind, body):
    return struct.pack(">BBI", kind, 0, len(body)) + body


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed by the receiver")
        out += chunk
    return out


def recv_pdu(s):
    head = recv_exact(s, 6)
    kind, _, length = struct.unpack(">BBI", head)
    return kind, recv_exact(s, length)


def element_implicit(group, elem, value):
    return struct.pack("<HHI", group, elem, len(value)) + value


def command(sop):
    body = (element_implicit(0, 0x0002, even(CT_IMAGE)) + element_implicit(0, 0x0100, struct.pack("<H", 1)) +
            element_implicit(0, 0x0110, struct.pack("<H", 1)) + element_implicit(0, 0x0700, struct.pack("<H", 0)) +
            element_implicit(0, 0x0800, struct.pack("<H", 0)) + element_implicit(0, 0x1000, even(sop)))
    return element_implicit(0, 0x0000, struct.pack("<I", len(body))) + body


def malformed_dataset(sop):
    # Explicit VR little endian: SOPClassUID, SOPInstanceUID, then PatientName whose length
    # (0x4000) runs far past the end of the dataset.
    def el(group, elem, vr, value):
        return struct.pack("<HH2sH", group, elem, vr, len(value)) + value
    return (el(0x0008, 0x0016, b"UI", even(CT_IMAGE)) + el(0x0008, 0x0018, b"UI", even(sop)) +
            struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 0x4000) + b"Trunc^")


def main():
    if len(sys.argv) != 5 or sys.argv[4] != "--malformed":
        sys.stderr.write(__doc__)
        return 2
    host, port, called = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    sop = ("2.25.%d" % uuid.uuid4().int).encode()
    pres = item(0x20, struct.pack(">BBBB", 1, 0, 0, 0) + item(0x30, CT_IMAGE) + item(0x40, EXPLICIT_LE))
    user = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.826.0.1.3680043.9.7433.1"))
    rq = (struct.pack(">HH", 1, 0) + called.ljust(16) + b"RAWSENDER".ljust(16) + b"\0" * 32 +
          item(0x10, APP_CONTEXT) + pres + user)
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(pdu(0x01, rq))
        kind, body = recv_pdu(s)
        if kind != 0x02:
            print("association not accepted (PDU type 0x%02x)" % kind)
            return 1
        # Presentation context 1's result: item 0x21 after the 68-byte fixed part.
        at = 68
        accepted = False
        while at + 4 <= len(body):
            k, _, n = struct.unpack(">BBH", body[at:at + 4])
            if k == 0x21 and body[at + 4] == 1:
                accepted = body[at + 6] == 0
            at += 4 + n
        if not accepted:
            print("presentation context not accepted")
            return 1
        cmd = command(sop)
        s.sendall(pdu(0x04, struct.pack(">IBB", len(cmd) + 2, 1, 0x03) + cmd))
        data = malformed_dataset(sop)
        s.sendall(pdu(0x04, struct.pack(">IBB", len(data) + 2, 1, 0x02) + data))
        kind, body = recv_pdu(s)
        if kind != 0x04:
            print("no C-STORE-RSP (PDU type 0x%02x)" % kind)
            return 1
        # One PDV: length, context, control, then the command set (implicit VR LE).
        cmd_rsp = body[6:]
        at = 0
        while at + 8 <= len(cmd_rsp):
            group, elem, n = struct.unpack("<HHI", cmd_rsp[at:at + 8])
            if (group, elem) == (0, 0x0900):
                print("status 0x%04x" % struct.unpack("<H", cmd_rsp[at + 8:at + 10])[0])
                s.sendall(pdu(0x05, b"\0" * 4))  # A-RELEASE-RQ
                try:
                    recv_pdu(s)
                except (EOFError, OSError):
                    pass
                return 0
            at += 8 + n
        print("C-STORE-RSP without a status")
        return 1


if __name__ == "__main__":
    sys.exit(main())
