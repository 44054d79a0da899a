/* ws_msg.h - decodes and validates one client WebSocket message (the text
 * of a whole, reassembled text message: a JSON object with "type") into a
 * typed request, without a connection. The gateway acts on the result;
 * the unit tests and fuzz/fuzz_ws_msg.c call it alone.
 *
 * The error codes and messages are the error frames of PROTOCOL.md 3.3:
 * invalid_json, invalid_request, unknown_type, content_too_large. */
#ifndef PL_WS_MSG_H
#define PL_WS_MSG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../core/uuid.h"

enum pl_ws_msg_type {
    PL_WS_MSG_NONE = 0, /* decoding failed: see err_* */
    PL_WS_MSG_SEND,
    PL_WS_MSG_TYPING,
    PL_WS_MSG_READ,
    PL_WS_MSG_SYNC,
    PL_WS_MSG_PRESENCE_SUBSCRIBE, /* user_ids: checked by the presence role */
    PL_WS_MSG_PING,
};

#define PL_WS_MSG_SYNC_MAX 200 /* the largest sync page (and the default) */
#define PL_WS_MSG_CMID_MAX 64  /* client_msg_id: 1..64 bytes 0x21..0x7E */

typedef struct pl_ws_msg {
    int type;                  /* enum pl_ws_msg_type */
    json_t *root;              /* owned: the parsed object, or NULL */
    pl_uuid conv;              /* send, typing, read, sync */
    const char *client_msg_id; /* send: borrowed from root */
    const char *content;       /* send: borrowed from root, NUL-terminated,
                                  valid UTF-8 without NUL */
    size_t content_len;        /* send: bytes, 1..max_content */
    int64_t seq;               /* read: seq >= 0; sync: after_seq >= 0 */
    int64_t limit;             /* sync: 1..PL_WS_MSG_SYNC_MAX */
    const char *err_code;      /* on error: static strings */
    const char *err_message;
    const char *err_client_msg_id; /* on error: a valid client_msg_id of
                                      the frame (borrowed), or NULL */
} pl_ws_msg;

/* Decodes text[0..len) into m. Returns PL_OK with m's fields for its type,
 * or PL_ERR_INVALID with type PL_WS_MSG_NONE and the err_* fields set.
 * Either way m->root may be set: release m with pl_ws_msg_free after the
 * borrowed strings are no longer needed. */
pl_status pl_ws_msg_decode(const char *text, size_t len, size_t max_content,
                           pl_ws_msg *m);
void pl_ws_msg_free(pl_ws_msg *m);

/* 1 if s is a valid client_msg_id (1..64 visible ASCII characters). */
int pl_ws_msg_valid_cmid(const char *s);

#endif
