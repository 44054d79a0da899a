"""Minimal raw RFC 6455 framing over a plain socket.

Used where a real WebSocket library would refuse to misbehave: unmasked client
frames, reserved bits, invalid UTF-8, oversized frames, bad fragmentation.
Pure functions (encode_frame, decode_frame, accept_key, close payloads) are
unit-checked in test_rawws.py against RFC vectors and a reference server.
"""

import base64
import hashlib
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def accept_key(key):
    """Sec-WebSocket-Accept value for a Sec-WebSocket-Key (str)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


def mask_bytes(payload, key):
    """XOR payload with the 4-byte mask key (masking == unmasking)."""
    if not payload:
        return b""
    n = len(payload)
    reps = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None,
                 length=None, len_form=None):
    """Build one frame.

    rsv: the three RSV bits as 0..7.  mask: set the MASK bit and mask the
    payload (mask_key: 4 bytes, random by default).  length: the length to
    announce in the header (default len(payload)), to lie about it.
    len_form: force the length encoding: 7, 16 or 64 (default minimal).
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    if len_form is None:
        len_form = 7 if n <= 125 else (16 if n <= 0xFFFF else 64)
    if len_form == 7:
        if n > 125:
            raise ValueError("length does not fit 7 bits")
        head = struct.pack("!BB", b0, mbit | n)
    elif len_form == 16:
        if n > 0xFFFF:
            raise ValueError("length does not fit 16 bits")
        head = struct.pack("!BBH", b0, mbit | 126, n)
    elif len_form == 64:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    else:
        raise ValueError("len_form must be 7, 16 or 64")
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        if len(key) != 4:
            raise ValueError("mask key must be 4 bytes")
        return head + key + mask_bytes(payload, key)
    return head + payload


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload")

    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.masked = masked
        self.payload = payload

    def text(self):
        return self.payload.decode("utf-8")

    def __repr__(self):
        p = self.payload if len(self.payload) <= 80 else self.payload[:80] + b"..."
        return "Frame(fin=%d rsv=%d op=%#x masked=%d len=%d %r)" % (
            self.fin, self.rsv, self.opcode, self.masked, len(self.payload), p)


def decode_frame(buf):
    """Parse one frame from the start of buf (bytes/bytearray).

    Returns (Frame, consumed) or None when buf holds only part of a frame.
    The payload is returned unmasked.
    """
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    fin = (b0 >> 7) & 1
    rsv = (b0 >> 4) & 7
    opcode = b0 & 0x0F
    masked = (b1 >> 7) & 1
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n = struct.unpack_from("!H", buf, 2)[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n = struct.unpack_from("!Q", buf, 2)[0]
        pos = 10
    key = None
    if masked:
        if len(buf) < pos + 4:
            return None
        key = bytes(buf[pos:pos + 4])
        pos += 4
    if len(buf) < pos + n:
        return None
    payload = bytes(buf[pos:pos + n])
    if masked:
        payload = mask_bytes(payload, key)
    return Frame(fin, rsv, opcode, masked, payload), pos + n


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


def parse_close_payload(payload):
    """(code, reason bytes) of a close frame payload; (None, b"") if empty."""
    if len(payload) == 0:
        return None, b""
    if len(payload) == 1:
        raise ValueError("1-byte close payload")
    return struct.unpack_from("!H", payload, 0)[0], bytes(payload[2:])


class HandshakeRejected(Exception):
    def __init__(self, status, headers, body):
        super().__init__("HTTP %d %r" % (status, body[:200]))
        self.status = status
        self.headers = headers
        self.body = body


class ClosedWithoutCloseFrame(AssertionError):
    pass


def read_http_response(sock, buf, deadline):
    """Read one HTTP response head (+ Content-Length body) from sock.

    buf: bytearray of bytes already read; consumed bytes are removed.
    Returns (status, headers dict lower-case, body bytes).
    """
    while b"\r\n\r\n" not in buf:
        chunk = _recv(sock, deadline)
        if not chunk:
            raise ConnectionError("EOF before the end of the HTTP head: %r" % bytes(buf[:300]))
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1")
    del buf[:end + 4]
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if status != 101 and "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            chunk = _recv(sock, deadline)
            if not chunk:
                break
            buf += chunk
        body = bytes(buf[:n])
        del buf[:n]
    return status, headers, body


def _recv(sock, deadline, size=65536):
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out reading from socket")
    sock.settimeout(left)
    try:
        return sock.recv(size)
    except socket.timeout:
        raise TimeoutError("timed out reading from socket") from None


class RawWS:
    """A deliberately dumb WebSocket client over a plain TCP socket."""

    def __init__(self, host, port, path="/v1/ws", token=None, headers=None,
                 timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        key = new_key()
        lines = [
            "GET %s HTTP/1.1" % path,
            "Host: %s:%d" % (host, port),
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: %s" % key,
            "Sec-WebSocket-Version: 13",
        ]
        if token is not None:
            lines.append("Authorization: Bearer %s" % token)
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        deadline = time.monotonic() + timeout
        status, hdrs, body = read_http_response(self.sock, self.buf, deadline)
        if status != 101:
            self.sock.close()
            raise HandshakeRejected(status, hdrs, body)
        if hdrs.get("sec-websocket-accept") != accept_key(key):
            self.sock.close()
            raise AssertionError("bad Sec-WebSocket-Accept: %r" % hdrs)
        if hdrs.get("upgrade", "").lower() != "websocket":
            self.sock.close()
            raise AssertionError("101 without Upgrade: websocket: %r" % hdrs)
        self.handshake_headers = hdrs

    def send_raw(self, data, ignore_errors=False):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            if not ignore_errors:
                raise

    def send_frame(self, opcode, payload=b"", ignore_errors=False, **kw):
        self.send_raw(encode_frame(opcode, payload, **kw), ignore_errors)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text, **kw)

    def recv_frame(self, timeout=10.0):
        """Next frame, or None at EOF (or reset) with no partial frame."""
        deadline = time.monotonic() + timeout
        while True:
            got = decode_frame(self.buf)
            if got is not None:
                frame, used = got
                del self.buf[:used]
                return frame
            try:
                chunk = _recv(self.sock, deadline)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if self.buf:
                    raise ConnectionError("EOF inside a frame: %r" % bytes(self.buf[:50]))
                return None
            self.buf += chunk

    def recv_json(self, timeout=10.0):
        """Next text frame as JSON, skipping control frames."""
        import json
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                raise ConnectionError("EOF while waiting for a text frame")
            if f.opcode == OP_TEXT:
                return json.loads(f.payload)
            if f.opcode == OP_CLOSE:
                raise ConnectionError("got close %r" % (parse_close_payload(f.payload),))

    def read_close(self, timeout=10.0, max_frames=100000):
        """Read frames until the server's close frame.

        Returns (code, reason_bytes, frames_seen_before). Answers the close
        and then waits for EOF (bounded). Raises ClosedWithoutCloseFrame if
        the server dropped the TCP connection without a close frame.
        """
        deadline = time.monotonic() + timeout
        seen = []
        for _ in range(max_frames):
            f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                raise ClosedWithoutCloseFrame(
                    "server closed TCP without a close frame (after %d frames: %r)"
                    % (len(seen), seen[-3:]))
            if f.opcode == OP_CLOSE:
                code, reason = parse_close_payload(f.payload)
                self.send_raw(encode_frame(OP_CLOSE, close_payload(code)), ignore_errors=True)
                self.expect_eof(timeout=max(0.5, deadline - time.monotonic()), strict=False)
                return code, reason, seen
            seen.append(f)
        raise AssertionError("no close frame within %d frames" % max_frames)

    def expect_eof(self, timeout=10.0, strict=True):
        """Wait for the server to close TCP. strict: raise if it doesn't."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = _recv(self.sock, deadline)
            except TimeoutError:
                if strict:
                    raise
                return False
            except (ConnectionResetError, OSError):
                return True
            if not chunk:
                return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
