/* test_ws_msg.c - the client frame decoder (proto/ws_msg.c): every frame
 * type, every error in its documented order, the borrowed fields. */
#include "proto/ws_msg.h"
#include "unit.h"

#include <string.h>

#define CID "0190c8a2-0000-7000-8000-0000000000aa"

/* Decodes s with max_content 8; returns the error code, or "ok". */
static const char *code_of(const char *s, pl_ws_msg *m)
{
    pl_status st = pl_ws_msg_decode(s, strlen(s), 8, m);
    CHECK((st == PL_OK) == (m->type != PL_WS_MSG_NONE));
    return st == PL_OK ? "ok" : m->err_code;
}

/* Checks the error code and that a client_msg_id is echoed iff wanted. */
static void check_err(const char *s, const char *code, const char *cmid)
{
    pl_ws_msg m;
    const char *got = code_of(s, &m);
    if (strcmp(got, code) != 0)
        fprintf(stderr, "  %s -> %s, wanted %s\n", s, got, code);
    CHECK_STR(got, code);
    if (strcmp(code, "ok") != 0) {
        CHECK(m.err_message && m.err_message[0]);
        if (cmid)
            CHECK(m.err_client_msg_id && strcmp(m.err_client_msg_id, cmid) == 0);
        else
            CHECK(m.err_client_msg_id == NULL);
    }
    pl_ws_msg_free(&m);
}

static void test_not_json(void)
{
    const char *bad[] = {"", "not json", "{", "[1]", "42", "\"ping\"", "null",
                         "{\"type\":\"ping\",\"type\":\"ping\"}", /* duplicate */
                         "{\"type\":\"p\\u0000\"}",              /* NUL */
                         "{\"type\":\"ping\"} x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_err(bad[i], "invalid_json", NULL);
    /* invalid UTF-8 inside a string: jansson agrees with the framing layer */
    check_err("{\"type\":\"\xed\xa0\x80\"}", "invalid_json", NULL);
}

static void test_type(void)
{
    check_err("{}", "invalid_request", NULL);
    check_err("{\"type\":5}", "invalid_request", NULL);
    check_err("{\"type\":\"teleport\"}", "unknown_type", NULL);
    check_err("{\"type\":\"ack\"}", "unknown_type", NULL);
    check_err("{\"type\":\"PING\"}", "unknown_type", NULL);
    check_err("{\"type\":\"ping\"}", "ok", NULL);
    check_err("  {\"type\" : \"ping\", \"extra\": [1, {}]}  ", "ok", NULL);
    check_err("{\"type\":\"presence_subscribe\"}", "ok", NULL); /* ids later */
}

static void test_send(void)
{
    pl_ws_msg m;
    const char *ok = "{\"type\":\"send\",\"conversation_id\":\"" CID
                     "\",\"client_msg_id\":\"c-1\",\"content\":\"h\xc3\xa9llo\"}";
    CHECK_STR(code_of(ok, &m), "ok");
    CHECK_EQ_INT(m.type, PL_WS_MSG_SEND);
    CHECK_STR(m.client_msg_id, "c-1");
    CHECK_EQ_INT(m.content_len, 6); /* bytes, not characters */
    CHECK_STR(m.content, "h\xc3\xa9llo");
    CHECK_EQ_INT(m.conv.b[15], 0xaa);
    pl_ws_msg_free(&m);
    CHECK(m.root == NULL);

    /* the order of the checks: client_msg_id, conversation, content */
    check_err("{\"type\":\"send\"}", "invalid_request", NULL);
    check_err("{\"type\":\"send\",\"client_msg_id\":\"sp ace\",\"content\":1}",
              "invalid_request", NULL);
    check_err("{\"type\":\"send\",\"client_msg_id\":\"x\",\"content\":\"a\"}",
              "invalid_request", "x");
    check_err("{\"type\":\"send\",\"client_msg_id\":\"x\",\"conversation_id\":"
              "\"nope\",\"content\":\"a\"}", "invalid_request", "x");
    check_err("{\"type\":\"send\",\"client_msg_id\":\"x\",\"conversation_id\":\""
              CID "\"}", "invalid_request", "x");
    check_err("{\"type\":\"send\",\"client_msg_id\":\"x\",\"conversation_id\":\""
              CID "\",\"content\":\"\"}", "invalid_request", "x");
    check_err("{\"type\":\"send\",\"client_msg_id\":\"x\",\"conversation_id\":\""
              CID "\",\"content\":[\"a\"]}", "invalid_request", "x");
    /* max_content is 8 bytes here: 4 two-byte characters fit, 9 bytes not */
    check_err("{\"type\":\"send\",\"client_msg_id\":\"x\",\"conversation_id\":\""
              CID "\",\"content\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", "ok", NULL);
    check_err("{\"type\":\"send\",\"client_msg_id\":\"x\",\"conversation_id\":\""
              CID "\",\"content\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x\"}",
              "content_too_large", "x");
}

static void test_cmid(void)
{
    char id[80];
    memset(id, 'a', sizeof(id));
    id[64] = '\0';
    CHECK(pl_ws_msg_valid_cmid(id));
    id[64] = 'a';
    id[65] = '\0';
    CHECK(!pl_ws_msg_valid_cmid(id));
    CHECK(!pl_ws_msg_valid_cmid(""));
    CHECK(!pl_ws_msg_valid_cmid(NULL));
    CHECK(pl_ws_msg_valid_cmid("!~"));
    CHECK(!pl_ws_msg_valid_cmid("a b"));
    CHECK(!pl_ws_msg_valid_cmid("a\x7f"));
    CHECK(!pl_ws_msg_valid_cmid("\xc3\xa9"));
}

static void test_typing_read_sync(void)
{
    pl_ws_msg m;
    check_err("{\"type\":\"typing\"}", "invalid_request", NULL);
    check_err("{\"type\":\"typing\",\"conversation_id\":\"" CID "\"}", "ok", NULL);
    check_err("{\"type\":\"read\",\"conversation_id\":\"" CID "\"}",
              "invalid_request", NULL);
    check_err("{\"type\":\"read\",\"conversation_id\":\"" CID "\",\"seq\":-1}",
              "invalid_request", NULL);
    check_err("{\"type\":\"read\",\"conversation_id\":\"" CID "\",\"seq\":\"1\"}",
              "invalid_request", NULL);
    check_err("{\"type\":\"read\",\"conversation_id\":\"" CID "\",\"seq\":1.0}",
              "invalid_request", NULL);
    CHECK_STR(code_of("{\"type\":\"read\",\"conversation_id\":\"" CID
                      "\",\"seq\":9007199254740993}", &m), "ok");
    CHECK(m.seq == 9007199254740993LL);
    pl_ws_msg_free(&m);

    CHECK_STR(code_of("{\"type\":\"sync\",\"conversation_id\":\"" CID
                      "\",\"after_seq\":0}", &m), "ok");
    CHECK_EQ_INT(m.limit, PL_WS_MSG_SYNC_MAX);
    CHECK_EQ_INT(m.seq, 0);
    pl_ws_msg_free(&m);
    CHECK_STR(code_of("{\"type\":\"sync\",\"conversation_id\":\"" CID
                      "\",\"after_seq\":7,\"limit\":1}", &m), "ok");
    CHECK_EQ_INT(m.limit, 1);
    CHECK_EQ_INT(m.seq, 7);
    pl_ws_msg_free(&m);
    const char *bad[] = {"\"after_seq\":-1", "\"limit\":5", "\"after_seq\":0,\"limit\":0",
                         "\"after_seq\":0,\"limit\":201", "\"after_seq\":0,\"limit\":null",
                         "\"after_seq\":\"0\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[200];
        snprintf(s, sizeof(s), "{\"type\":\"sync\",\"conversation_id\":\"" CID
                 "\",%s}", bad[i]);
        check_err(s, "invalid_request", NULL);
    }
}

int main(void)
{
    test_not_json();
    test_type();
    test_send();
    test_cmid();
    test_typing_read_sync();
    UNIT_DONE();
}
