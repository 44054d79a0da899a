/* fuzz_ws_msg.c - libFuzzer target for the client frame decoder
 * (proto/ws_msg.c) behind the UTF-8 check that precedes it.
 *
 * Input: byte 0 picks max_content and seeds the fragmenting, the rest is
 * the text of one message. As the gateway does, the text is run through
 * the incremental UTF-8 validator whole, byte by byte and in random
 * fragments (all three must agree), then decoded. Properties:
 *  - text that is not UTF-8 never decodes (jansson agrees with our DFA);
 *  - an error has a documented code and message, and echoes only a valid
 *    client_msg_id; a success has every field of its type in range;
 *  - a success re-encoded canonically decodes to the same fields. */
#include "proto/utf8.h"
#include "proto/ws_msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)      \
    do {                \
        if (!(c))       \
            abort();    \
    } while (0)

static const size_t max_choices[] = {1, 8, 4096, 65536};

static uint32_t utf8_in_fragments(const uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t st = PL_UTF8_ACCEPT;

    for (size_t i = 0; i < n;) {
        size_t step;
        seed = seed * 1103515245u + 12345u;
        step = (seed >> 16) % 7 ? 1 + (seed >> 16) % 5 : 1 + (seed >> 16) % 300;
        if (step > n - i)
            step = n - i;
        st = pl_utf8_feed(st, p + i, step);
        i += step;
    }
    return st;
}

static int utf8_checks(const uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t whole = pl_utf8_feed(PL_UTF8_ACCEPT, p, n), bytes = PL_UTF8_ACCEPT;

    for (size_t i = 0; i < n; i++)
        bytes = pl_utf8_feed(bytes, p + i, 1);
    REQUIRE(bytes == whole);
    REQUIRE(utf8_in_fragments(p, n, seed) == whole);
    return whole == PL_UTF8_ACCEPT;
}

static void check_error(const pl_ws_msg *m)
{
    static const char *codes[] = {"invalid_json", "invalid_request",
                                  "unknown_type", "content_too_large"};
    int known = 0;

    REQUIRE(m->type == PL_WS_MSG_NONE && m->err_code && m->err_message);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        known |= strcmp(m->err_code, codes[i]) == 0;
    REQUIRE(known);
    REQUIRE(!m->err_client_msg_id || pl_ws_msg_valid_cmid(m->err_client_msg_id));
}

static void check_fields(const pl_ws_msg *m, size_t max_content)
{
    REQUIRE(m->type > PL_WS_MSG_NONE && m->type <= PL_WS_MSG_PING);
    REQUIRE(json_is_object(m->root));
    if (m->type == PL_WS_MSG_SEND) {
        REQUIRE(pl_ws_msg_valid_cmid(m->client_msg_id));
        REQUIRE(m->content_len >= 1 && m->content_len <= max_content);
        REQUIRE(strlen(m->content) == m->content_len);
        REQUIRE(pl_utf8_valid((const uint8_t *)m->content, m->content_len));
    }
    if (m->type == PL_WS_MSG_READ)
        REQUIRE(m->seq >= 0);
    if (m->type == PL_WS_MSG_SYNC)
        REQUIRE(m->seq >= 0 && m->limit >= 1 && m->limit <= PL_WS_MSG_SYNC_MAX);
}

/* The fields of m as a fresh, canonical frame. */
static json_t *reencode(const pl_ws_msg *m)
{
    static const char *names[] = {"", "send", "typing", "read", "sync",
                                  "presence_subscribe", "ping"};
    char cid[PL_UUID_STRLEN + 1];
    json_t *o = json_pack("{s:s}", "type", names[m->type]);

    pl_uuid_fmt(&m->conv, cid);
    if (m->type == PL_WS_MSG_SEND)
        json_object_set_new(o, "client_msg_id", json_string(m->client_msg_id));
    if (m->type == PL_WS_MSG_SEND)
        json_object_set_new(o, "content", json_stringn(m->content, m->content_len));
    if (m->type == PL_WS_MSG_READ)
        json_object_set_new(o, "seq", json_integer(m->seq));
    if (m->type == PL_WS_MSG_SYNC) {
        json_object_set_new(o, "after_seq", json_integer(m->seq));
        json_object_set_new(o, "limit", json_integer(m->limit));
    }
    if (m->type >= PL_WS_MSG_SEND && m->type <= PL_WS_MSG_SYNC)
        json_object_set_new(o, "conversation_id", json_string(cid));
    return o;
}

static void check_roundtrip(const pl_ws_msg *m, size_t max_content)
{
    json_t *o = reencode(m);
    char *s = json_dumps(o, JSON_COMPACT);
    pl_ws_msg again;

    REQUIRE(s);
    REQUIRE(pl_ws_msg_decode(s, strlen(s), max_content, &again) == PL_OK);
    REQUIRE(again.type == m->type && again.seq == m->seq &&
            again.limit == m->limit && again.content_len == m->content_len);
    if (m->type >= PL_WS_MSG_SEND && m->type <= PL_WS_MSG_SYNC)
        REQUIRE(pl_uuid_eq(&again.conv, &m->conv));
    if (m->type == PL_WS_MSG_SEND) {
        REQUIRE(strcmp(again.client_msg_id, m->client_msg_id) == 0);
        REQUIRE(memcmp(again.content, m->content, m->content_len) == 0);
    }
    pl_ws_msg_free(&again);
    free(s);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_ws_msg m;
    size_t max_content;
    char *text;
    int utf8_ok;

    if (size < 1)
        return 0;
    max_content = max_choices[data[0] % 4];
    /* an exact-size copy: ASan sees any read past the end */
    text = malloc(size - 1 ? size - 1 : 1);
    memcpy(text, data + 1, size - 1);
    utf8_ok = utf8_checks((const uint8_t *)text, size - 1, data[0]);
    if (pl_ws_msg_decode(text, size - 1, max_content, &m) == PL_OK) {
        REQUIRE(utf8_ok);
        check_fields(&m, max_content);
        check_roundtrip(&m, max_content);
    } else {
        check_error(&m);
        if (!utf8_ok)
            REQUIRE(strcmp(m.err_code, "invalid_json") == 0);
    }
    pl_ws_msg_free(&m);
    free(text);
    return 0;
}
