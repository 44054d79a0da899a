/* ws.h - RFC 6455 WebSocket framing (server side + client side encoder).
 *
 * Parser: zero-copy and incremental over a contiguous buffer. It never
 * trusts the peer's 64-bit length beyond the configured maximum and never
 * reads past buf + len. Unmasking is done in place by pl_ws_unmask. */
#ifndef PL_WS_H
#define PL_WS_H

#include <stddef.h>
#include <stdint.h>

enum pl_ws_opcode {
    PL_WS_CONT = 0x0,
    PL_WS_TEXT = 0x1,
    PL_WS_BINARY = 0x2,
    PL_WS_CLOSE = 0x8,
    PL_WS_PING = 0x9,
    PL_WS_PONG = 0xA,
};

/* Close codes used by Parley (RFC 6455 7.4.1). */
enum pl_ws_close {
    PL_WS_CLOSE_NORMAL = 1000,
    PL_WS_CLOSE_GOING_AWAY = 1001,
    PL_WS_CLOSE_PROTOCOL = 1002,
    PL_WS_CLOSE_UNSUPPORTED = 1003,
    PL_WS_CLOSE_INVALID_DATA = 1007, /* e.g. invalid UTF-8 in a text frame */
    PL_WS_CLOSE_POLICY = 1008,       /* e.g. slow consumer, auth expired */
    PL_WS_CLOSE_TOO_BIG = 1009,
    PL_WS_CLOSE_INTERNAL = 1011,
    PL_WS_CLOSE_TRY_AGAIN = 1013,
};

typedef struct pl_ws_frame {
    int fin;
    int rsv;          /* the three RSV bits as 0..7 */
    int opcode;
    int masked;
    uint8_t mask[4];
    uint64_t payload_len;
    size_t header_len; /* bytes of header (2..14) */
} pl_ws_frame;

/* Result codes of pl_ws_parse_header. */
#define PL_WS_INCOMPLETE (-1)
#define PL_WS_ERR_PROTOCOL (-2) /* reserved opcode, fragmented or >125-byte
                                   control frame, non-minimal length encoding,
                                   64-bit length with the top bit set */
#define PL_WS_ERR_TOO_BIG (-3)  /* payload_len > max_payload */

/* Parses one frame header from buf[0..len). Returns the total frame size
 * (header + payload) if the whole frame is in the buffer, PL_WS_INCOMPLETE
 * if more bytes are needed (f may be partly filled), or a PL_WS_ERR_* code.
 * Does not check masking or RSV policy: the caller decides (a server requires
 * masked=1 and rsv=0). */
long pl_ws_parse_header(const uint8_t *buf, size_t len, uint64_t max_payload,
                        pl_ws_frame *f);

/* XORs payload in place with mask, starting at payload offset `offset`
 * (for unmasking in pieces). */
void pl_ws_unmask(uint8_t *payload, size_t len, const uint8_t mask[4],
                  size_t offset);

/* Writes an unmasked (server) frame header for a payload of len bytes into
 * out (>= 10 bytes). Returns header length. */
size_t pl_ws_write_header(uint8_t *out, int fin, int opcode, uint64_t len);
/* Same for a masked (client) frame header (>= 14 bytes). */
size_t pl_ws_write_header_masked(uint8_t *out, int fin, int opcode,
                                 uint64_t len, const uint8_t mask[4]);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (key as sent, len bytes):
 * base64(SHA-1(key + GUID)), NUL-terminated into out (>= 29 bytes).
 * Returns 0, or -1 if the key is not 24 base64 chars decoding to 16 bytes. */
int pl_ws_accept_key(const char *key, size_t len, char out[29]);

#endif
