/* test_jsonw.c - the hand-written `message` JSON must be byte for byte what
 * jansson writes for the same object (clients and the Kafka payloads see
 * no difference), for every kind of content, and must fail cleanly when
 * the buffer is too small. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"
#include "core/timeutil.h"
#include "roles/messaging.h"
#include "unit.h"

/* The reference: the object built with jansson. */
static char *oracle(const pl_msg *m, bool with_type)
{
    char conv[PL_UUID_STRLEN + 1], id[PL_UUID_STRLEN + 1],
        sender[PL_UUID_STRLEN + 1], ts[PL_TIME_STRLEN + 1];
    json_t *o = json_object();
    if (with_type)
        json_object_set_new(o, "type", json_string("message"));
    json_object_set_new(o, "conversation_id",
                        json_string(pl_uuid_fmt(&m->conv_id, conv)));
    json_object_set_new(o, "seq", json_integer(m->seq));
    json_object_set_new(o, "message_id",
                        json_string(pl_uuid_fmt(&m->msg_id, id)));
    json_object_set_new(o, "sender_id",
                        json_string(pl_uuid_fmt(&m->sender_id, sender)));
    json_object_set_new(o, "client_msg_id", json_string(m->client_msg_id));
    json_object_set_new(o, "content",
                        json_stringn(m->content, m->content_len));
    json_object_set_new(o, "created_at",
                        json_string(pl_time_fmt(m->created_ms, ts)));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void check_same(const char *content, size_t n, const char *cmid,
                       bool with_type)
{
    pl_msg m = {.seq = 1234567890123LL, .created_ms = 1795500000123LL};
    pl_uuid_v4(&m.conv_id);
    pl_uuid_v4(&m.msg_id);
    pl_uuid_v4(&m.sender_id);
    snprintf(m.client_msg_id, sizeof(m.client_msg_id), "%s", cmid);
    m.content = (char *)content;
    m.content_len = n;
    size_t len = 0;
    char *got = pl_msg_to_json(&m, with_type, &len);
    char *want = oracle(&m, with_type);
    CHECK(got != NULL && want != NULL);
    if (got && want) {
        CHECK_STR(got, want);
        CHECK_EQ_INT(len, strlen(want));
        if (strcmp(got, want) != 0)
            fprintf(stderr, "got  %s\nwant %s\n", got, want);
    }
    free(got);
    free(want);
}

static void test_contents(void)
{
    char all[0x80];
    for (int i = 0; i < 0x80; i++)
        all[i] = (char)(i ? i : 'x'); /* every ASCII byte but NUL */
    check_same("hello", 5, "c-1", true);
    check_same("hello", 5, "c-1", false);
    check_same("", 0, "c", true);
    check_same(all, sizeof(all), "q\"uo\\te", true);
    const char *esc = "tab\there\nnew \"q\" back\\slash /\r\b\f";
    check_same(esc, strlen(esc), "x", true);
    const char *utf8 = "\x7f del, caf\xc3\xa9, \xe2\x80\xa8 sep, \xf0\x9f\x98\x80";
    check_same(utf8, strlen(utf8), "u", true);
    check_same("<b>html</b> & 'quotes'", strlen("<b>html</b> & 'quotes'"), "~!@#$%^&*()_+{}|:<>?", true);
}

static void test_overflow(void)
{
    char buf[8];
    pl_jsonw w;
    pl_jsonw_init(&w, buf, sizeof(buf));
    pl_jsonw_str(&w, "abcdef", 6); /* 8 bytes with quotes: fits */
    CHECK(w.ok);
    CHECK_EQ_INT(w.len, 8);
    pl_jsonw_raw(&w, "x", 1);
    CHECK(!w.ok);
    pl_jsonw_init(&w, buf, sizeof(buf));
    pl_jsonw_str(&w, "\x01\x02", 2); /* "\u0001\u0002" = 14 bytes */
    CHECK(!w.ok);
    pl_jsonw_init(&w, buf, sizeof(buf));
    pl_jsonw_int(&w, -1234567);
    CHECK(w.ok);
    CHECK(w.len == 8 && memcmp(buf, "-1234567", 8) == 0);
    pl_jsonw_init(&w, NULL, 0);
    PL_JSONW_LIT(&w, "");
    CHECK(!w.ok);
    CHECK(pl_jsonw_str_max(3) >= strlen("\"\\u0001\\u0001\\u0001\""));
}

int main(void)
{
    test_contents();
    test_overflow();
    UNIT_DONE();
}
