"""Unit checks of the raw framing helpers (rawws.py). No parleyd needed:
RFC 6455 vectors plus a reference server (the websockets library)."""

import threading

import pytest
from websockets.sync.server import serve

from rawws import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
                   ClosedWithoutCloseFrame, HandshakeRejected, RawWS, accept_key,
                   close_payload, decode_frame, encode_frame, mask_bytes,
                   parse_close_payload)


def test_accept_key_rfc_vector():
    # RFC 6455 section 1.3
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_rfc_examples_unmasked_and_masked_hello():
    # RFC 6455 section 5.7
    assert encode_frame(OP_TEXT, b"Hello", mask=False) == bytes.fromhex("810548656c6c6f")
    masked = encode_frame(OP_TEXT, b"Hello", mask_key=bytes.fromhex("37fa213d"))
    assert masked == bytes.fromhex("818537fa213d7f9f4d5158")
    f, used = decode_frame(masked)
    assert used == len(masked)
    assert (f.fin, f.rsv, f.opcode, f.masked, f.payload) == (1, 0, OP_TEXT, 1, b"Hello")
    # Fragmented unmasked text message "Hel" + "lo".
    assert encode_frame(OP_TEXT, b"Hel", fin=False, mask=False) == bytes.fromhex("010348656c")
    assert encode_frame(OP_CONT, b"lo", mask=False) == bytes.fromhex("80026c6f")
    # Unmasked ping with "Hello".
    assert encode_frame(OP_PING, b"Hello", mask=False) == bytes.fromhex("890548656c6c6f")


@pytest.mark.parametrize("n,hdr", [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10),
                                   (70000, 10)])
def test_length_forms_roundtrip(n, hdr):
    payload = bytes(i & 0xFF for i in range(n))
    for mask in (False, True):
        frame = encode_frame(OP_BINARY, payload, mask=mask)
        assert len(frame) == hdr + (4 if mask else 0) + n
        f, used = decode_frame(frame + b"tail")
        assert used == len(frame)
        assert f.payload == payload and f.masked == int(mask) and f.opcode == OP_BINARY


def test_header_bits():
    f, _ = decode_frame(encode_frame(OP_TEXT, b"x", fin=False, rsv=5, mask=False))
    assert (f.fin, f.rsv, f.opcode) == (0, 5, OP_TEXT)
    raw = encode_frame(OP_TEXT, b"x", rsv=4, mask=False)
    assert raw[0] == 0x80 | 0x40 | 0x01
    # Forced non-minimal length forms.
    assert encode_frame(OP_TEXT, b"ab", mask=False, len_form=16) == b"\x81\x7e\x00\x02ab"
    assert encode_frame(OP_TEXT, b"ab", mask=False, len_form=64) == \
        b"\x81\x7f" + (2).to_bytes(8, "big") + b"ab"
    # Lying about the length.
    assert encode_frame(OP_TEXT, b"", mask=False, length=65537) == \
        b"\x81\x7f" + (65537).to_bytes(8, "big")
    with pytest.raises(ValueError):
        encode_frame(OP_TEXT, b"x" * 200, len_form=7)


def test_decode_incremental():
    frame = encode_frame(OP_TEXT, b"y" * 300)
    for cut in range(len(frame)):
        assert decode_frame(frame[:cut]) is None, cut
    assert decode_frame(frame)[1] == len(frame)


def test_mask_is_involution():
    key = b"\x01\x02\x03\xff"
    data = bytes(range(256)) * 3
    assert mask_bytes(mask_bytes(data, key), key) == data
    assert mask_bytes(b"", key) == b""
    assert mask_bytes(b"\x00\x00\x00\x00\x00", key) == key + key[:1]


def test_close_payload():
    assert close_payload(1000) == b"\x03\xe8"
    assert close_payload(1001, "bye") == b"\x03\xe9bye"
    assert parse_close_payload(b"\x03\xf1why") == (1009, b"why")
    assert parse_close_payload(b"") == (None, b"")
    with pytest.raises(ValueError):
        parse_close_payload(b"\x03")


# ------------------------------------------------ against a reference server


@pytest.fixture
def ref_server():
    """websockets echo server (max_size 64 KiB like parleyd's default)."""
    def handler(ws):
        for msg in ws:
            ws.send(msg)

    srv = serve(handler, "127.0.0.1", 0, max_size=65536, compression=None)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    port = srv.socket.getsockname()[1]
    yield port
    srv.shutdown()
    t.join(5)


def _raw(port):
    return RawWS("127.0.0.1", port, path="/")


def test_ref_echo_and_fragments(ref_server):
    with _raw(ref_server) as c:
        c.send_text('{"a":1}')
        f = c.recv_frame()
        assert (f.opcode, f.payload, f.masked) == (OP_TEXT, b'{"a":1}', 0)
        c.send_frame(OP_TEXT, "Hel", fin=False)
        c.send_frame(OP_PING, b"pp")
        c.send_frame(OP_CONT, "lo")
        frames = [c.recv_frame(), c.recv_frame()]
        kinds = sorted((f.opcode, f.payload) for f in frames)
        assert kinds == [(OP_TEXT, b"Hello"), (OP_PONG, b"pp")]
        c.send_frame(OP_CLOSE, close_payload(1000))
        code, _, _ = c.read_close()
        assert code == 1000


@pytest.mark.parametrize("send,expected", [
    (lambda c: c.send_frame(OP_TEXT, "hi", mask=False), 1002),
    (lambda c: c.send_frame(OP_TEXT, b"\xff\xfe"), 1007),
    (lambda c: c.send_frame(OP_TEXT, "hi", rsv=4), 1002),
    (lambda c: c.send_frame(0x3, b"x"), 1002),
    (lambda c: c.send_frame(OP_PING, b"x", fin=False), 1002),
    (lambda c: c.send_frame(OP_PING, b"x" * 126), 1002),
    (lambda c: c.send_frame(OP_CONT, b"x"), 1002),
    (lambda c: c.send_frame(OP_TEXT, b"", length=65537), 1009),
])
def test_ref_protocol_errors(ref_server, send, expected):
    with _raw(ref_server) as c:
        send(c)
        code, _, _ = c.read_close()
        assert code == expected


def test_ref_handshake_rejected():
    def handler(ws):
        pass

    def reject(conn, request):
        return conn.respond(401, "nope\n")

    srv = serve(handler, "127.0.0.1", 0, process_request=reject)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        with pytest.raises(HandshakeRejected) as ei:
            _raw(srv.socket.getsockname()[1])
        assert ei.value.status == 401
        assert ei.value.body == b"nope\n"
    finally:
        srv.shutdown()
        t.join(5)


def test_closed_without_close_frame_detected():
    import socket
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def fake():
        s, _ = lsock.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        key = [ln.split(":", 1)[1].strip() for ln in data.decode().split("\r\n")
               if ln.lower().startswith("sec-websocket-key")][0]
        s.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                   % accept_key(key)).encode())
        s.sendall(encode_frame(OP_TEXT, b"{}", mask=False))
        s.close()

    t = threading.Thread(target=fake, daemon=True)
    t.start()
    c = RawWS("127.0.0.1", lsock.getsockname()[1], path="/")
    with pytest.raises(ClosedWithoutCloseFrame):
        c.read_close(timeout=5)
    c.close()
    lsock.close()
    t.join(5)
