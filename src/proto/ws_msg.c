/* ws_msg.c - the client frame decoder: JSON parse, "type" dispatch and
 * field validation, in the order the error frames are documented. */
#include "proto/ws_msg.h"

#include <string.h>

int pl_ws_msg_valid_cmid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > PL_WS_MSG_CMID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

static pl_status fail(pl_ws_msg *m, const char *code, const char *message,
                      const char *cmid)
{
    m->type = PL_WS_MSG_NONE;
    m->err_code = code;
    m->err_message = message;
    m->err_client_msg_id = cmid;
    return PL_ERR_INVALID;
}

static int get_conv(const pl_ws_msg *m, pl_uuid *out)
{
    const char *s = json_string_value(json_object_get(m->root,
                                                      "conversation_id"));
    return s && pl_uuid_parse(s, strlen(s), out) == PL_OK;
}

/* A non-negative integer member, or -1 if absent or anything else. */
static int64_t get_uint(const pl_ws_msg *m, const char *name)
{
    json_t *v = json_object_get(m->root, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    return (int64_t)json_integer_value(v);
}

static pl_status decode_send(pl_ws_msg *m, size_t max_content)
{
    const char *cmid = json_string_value(json_object_get(m->root,
                                                         "client_msg_id"));
    json_t *content = json_object_get(m->root, "content");

    if (!pl_ws_msg_valid_cmid(cmid))
        return fail(m, "invalid_request",
                    "client_msg_id must be 1 to 64 visible ASCII characters",
                    NULL);
    if (!get_conv(m, &m->conv))
        return fail(m, "invalid_request", "conversation_id must be a UUID",
                    cmid);
    if (!json_is_string(content) || json_string_length(content) == 0)
        return fail(m, "invalid_request", "content must be a non-empty string",
                    cmid);
    if (json_string_length(content) > max_content)
        return fail(m, "content_too_large", "content is over the size limit",
                    cmid);
    m->client_msg_id = cmid;
    m->content = json_string_value(content);
    m->content_len = json_string_length(content);
    return PL_OK;
}

static pl_status decode_read(pl_ws_msg *m)
{
    if (!get_conv(m, &m->conv))
        return fail(m, "invalid_request", "conversation_id must be a UUID",
                    NULL);
    m->seq = get_uint(m, "seq");
    if (m->seq < 0)
        return fail(m, "invalid_request", "seq must be a non-negative integer",
                    NULL);
    return PL_OK;
}

static pl_status decode_sync(pl_ws_msg *m)
{
    json_t *limit = json_object_get(m->root, "limit");

    m->seq = get_uint(m, "after_seq");
    m->limit = limit ? get_uint(m, "limit") : PL_WS_MSG_SYNC_MAX;
    if (!get_conv(m, &m->conv) || m->seq < 0 || m->limit < 1 ||
        m->limit > PL_WS_MSG_SYNC_MAX)
        return fail(m, "invalid_request",
                    "sync needs conversation_id, after_seq >= 0 and an "
                    "optional limit of 1 to 200",
                    NULL);
    return PL_OK;
}

static pl_status dispatch(pl_ws_msg *m, const char *type, size_t max_content)
{
    if (strcmp(type, "send") == 0) {
        m->type = PL_WS_MSG_SEND;
        return decode_send(m, max_content);
    }
    if (strcmp(type, "typing") == 0) {
        m->type = PL_WS_MSG_TYPING;
        return get_conv(m, &m->conv)
                   ? PL_OK
                   : fail(m, "invalid_request",
                          "conversation_id must be a UUID", NULL);
    }
    if (strcmp(type, "read") == 0) {
        m->type = PL_WS_MSG_READ;
        return decode_read(m);
    }
    if (strcmp(type, "sync") == 0) {
        m->type = PL_WS_MSG_SYNC;
        return decode_sync(m);
    }
    m->type = strcmp(type, "presence_subscribe") == 0 ? PL_WS_MSG_PRESENCE_SUBSCRIBE
              : strcmp(type, "ping") == 0             ? PL_WS_MSG_PING
                                                      : PL_WS_MSG_NONE;
    if (m->type == PL_WS_MSG_NONE)
        return fail(m, "unknown_type", "unknown frame type", NULL);
    return PL_OK;
}

pl_status pl_ws_msg_decode(const char *text, size_t len, size_t max_content,
                           pl_ws_msg *m)
{
    const char *type;

    memset(m, 0, sizeof(*m));
    m->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(m->root))
        return fail(m, "invalid_json", "frame is not a JSON object", NULL);
    type = json_string_value(json_object_get(m->root, "type"));
    if (!type)
        return fail(m, "invalid_request", "type (string) is required", NULL);
    return dispatch(m, type, max_content);
}

void pl_ws_msg_free(pl_ws_msg *m)
{
    json_decref(m->root);
    m->root = NULL;
}
