/* cluster_wire.h - the records the roles of a cluster exchange over Kafka
 * and Redis (docs/ARCHITECTURE.md, cluster mode). One binary layout:
 *
 *   byte 0: PL_CW_VERSION    byte 1: the record kind (PL_CW_REQ, ...)
 *   then the kind's fields in the order of the structs below: integers
 *   little-endian and fixed width (u8, u32, i32, u64, i64), uuids as their
 *   16 bytes, strings and byte runs as a u32 length then the bytes (no NUL
 *   on the wire).
 *
 * Decoders take bytes from the network (a broker or a Redis server anyone
 * on the cluster network may write to): every length is checked against
 * what remains and against the field's limit, trailing bytes, an unknown
 * version, kind or enum value are PL_ERR_INVALID, and nothing is written
 * to the output unless the whole record decoded (on error the out struct
 * is left as the caller passed it, nothing allocated). Encoders append to
 * a pl_dbuf. No function here keeps a pointer to its arguments.
 *
 * Versioning: a new field goes at the end of its record under a new
 * version number; decoders accept every version up to PL_CW_VERSION, so
 * old and new instances of a role can run side by side during a rollout. */
#ifndef PL_CLUSTER_WIRE_H
#define PL_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/status.h"
#include "../core/uuid.h"
#include "messaging.h"

#define PL_CW_VERSION 1
#define PL_CW_REPLY_TO_MAX 128 /* a gateway id (the ack channel's name) */

enum pl_cw_kind {
    PL_CW_REQ = 1,   /* gateway -> messaging: a send or a read */
    PL_CW_ACK = 2,   /* messaging -> gateway: its result */
    PL_CW_EVENT = 3, /* bus events and deliveries to gateways */
};

/* ---- PL_CW_REQ: Kafka topic parley.sends, key: the conversation -------
 * Fields, in order: u8 req kind (PL_REQ_SEND | PL_REQ_READ), uuid conv,
 * uuid user, string client_msg_id (SEND: 1..PL_CLIENT_MSG_ID_MAX bytes of
 * visible ASCII 0x21..0x7e; READ: empty), string content (SEND: 1..
 * PL_CW_CONTENT_MAX bytes of valid UTF-8 without NUL; READ: empty), i64 seq (READ: >= 0; SEND: 0),
 * string reply_to (1..PL_CW_REPLY_TO_MAX bytes of visible ASCII), u32
 * ctx_loop, u64 ctx_id, u8 ctx_kind, i64 sent_ms.
 *
 * encode: from r's request fields (kind, conv_id, user_id, client_msg_id,
 * content/content_len, seq, ctx_loop, ctx_id, ctx_kind) and reply_to.
 * decode: fills those fields of a zeroed r (content malloc'd and
 * NUL-terminated, owned by r; dup_of = -1) and copies reply_to into
 * reply_to[PL_CW_REPLY_TO_MAX + 1], NUL-terminated; *sent_ms if not NULL. */
#define PL_CW_CONTENT_MAX (1 << 20)
pl_status pl_cw_encode_req(const pl_msg_req *r, const char *reply_to,
                           int64_t sent_ms, pl_dbuf *out);
pl_status pl_cw_decode_req(const void *p, size_t n, pl_msg_req *r,
                           char *reply_to, int64_t *sent_ms);

/* ---- PL_CW_ACK: Redis channel of the gateway named by reply_to ---------
 * Fields, in order: u32 ctx_loop, u64 ctx_id, u8 ctx_kind, u8 req kind,
 * i32 st (a pl_status, PL_OK or an error in the status.h range), u8
 * duplicate (0|1), u8 read_private (0|1), i64 read_seq, uuid conv, uuid
 * user, string client_msg_id (0..PL_CLIENT_MSG_ID_MAX, visible ASCII),
 * then the stored message (meaningful when SEND and st == PL_OK, zeros
 * and empty strings otherwise): i64 seq, uuid msg_id, uuid sender,
 * i64 created_ms, string content (0..PL_CW_CONTENT_MAX bytes).
 *
 * encode: from r's context, request and result fields (r->msg for the
 * message). decode: fills those fields of a zeroed r (msg.content
 * malloc'd and NUL-terminated when not empty, else NULL; msg.conv_id =
 * conv; msg.client_msg_id = client_msg_id; r->ctx = NULL, r->done =
 * NULL, dup_of = -1). */
pl_status pl_cw_encode_ack(const pl_msg_req *r, pl_dbuf *out);
pl_status pl_cw_decode_ack(const void *p, size_t n, pl_msg_req *r);

/* ---- PL_CW_EVENT: the Kafka bus topics, and Redis deliveries -----------
 * Fields, in order: u8 kind (1..PL_CW_EVENT_KIND_MAX: on the bus the
 * topic's number, PL_CW_T_*; to gateways a pl_delivery), uuid key, uuid
 * exclude_user, uuid only_user (nil: unused), u64 coalesce, i64 seq (the
 * message's seq for a durable delivery, else 0; >= 0), bytes payload
 * (0..PL_CW_CONTENT_MAX + 4096). decode: payload points INTO p (borrowed:
 * valid while p is). */
enum pl_cw_topic {
    PL_CW_T_MESSAGES = 1,
    PL_CW_T_EVENTS,
    PL_CW_T_PRESENCE,
    PL_CW_T_MEMBERSHIP,
    PL_CW_T_SENDS,
};
#define PL_CW_EVENT_KIND_MAX 8
typedef struct pl_cw_event {
    uint8_t kind;
    pl_uuid key, exclude_user, only_user;
    uint64_t coalesce;
    int64_t seq;
    const uint8_t *payload;
    size_t payload_len;
} pl_cw_event;
pl_status pl_cw_encode_event(const pl_cw_event *e, pl_dbuf *out);
/* Encodes a bus message as a PL_CW_EVENT of the given kind (a topic
 * number on the bus, a pl_delivery towards gateways): its routing fields
 * and payload. */
struct pl_bus_msg;
pl_status pl_cw_encode_bus_msg(const struct pl_bus_msg *m, uint8_t kind,
                               pl_dbuf *out);
pl_status pl_cw_decode_event(const void *p, size_t n, pl_cw_event *e);

/* ---- Redis channel names (docs/ARCHITECTURE.md, cluster mode) ---------
 * pl:c:{<conversation uuid>}  a conversation's deliveries (the {} hash tag
 *                             puts the channel in the uuid's slot)
 * pl:g:{<gateway id>}         acks to one gateway
 * pl:presence, pl:members     presence and membership, to every gateway
 * Each writes the name NUL-terminated into buf and returns its length, or
 * 0 if it does not fit (or the gateway id is not 1..PL_CW_REPLY_TO_MAX
 * bytes of visible ASCII, the rule of reply_to). */
#define PL_CW_CHAN_PRESENCE "pl:presence"
#define PL_CW_CHAN_MEMBERS "pl:members"
size_t pl_cw_channel_conv(const pl_uuid *conv, char *buf, size_t cap);
size_t pl_cw_channel_gateway(const char *gateway_id, char *buf, size_t cap);

/* The kind byte of a record (PL_CW_REQ, ...), or 0 if p is too short or
 * of an unknown version: lets a channel carry several kinds. */
int pl_cw_peek_kind(const void *p, size_t n);

#endif
