/* store_suite.h - the backend-neutral cases of the store unit tests,
 * through the pl_store_* API only. Included by test_store_sqlite.c and
 * test_store_postgres.c (one translation unit each), which supply a fresh
 * store and run store_suite(); each backend file adds its own cases.
 *
 * Every case expects an empty store: the usernames are fixed. */
#ifndef PL_TEST_STORE_SUITE_H
#define PL_TEST_STORE_SUITE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/store.h"
#include "core/config.h"
#include "core/uuid.h"
#include "unit.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pl_user mk_user(const char *name)
{
    pl_user u;

    memset(&u, 0, sizeof(u));
    pl_uuid_v4(&u.id);
    snprintf(u.username, sizeof(u.username), "%s", name);
    snprintf(u.pw_hash, sizeof(u.pw_hash), "$argon2id$fake$%s", name);
    u.created_ms = 1700000000000;
    return u;
}

static pl_conv mk_group(const char *name, int64_t created_ms)
{
    pl_conv cv;

    memset(&cv, 0, sizeof(cv));
    pl_uuid_v4(&cv.id);
    cv.type = PL_CONV_GROUP;
    snprintf(cv.name, sizeof(cv.name), "%s", name);
    cv.created_ms = created_ms;
    return cv;
}

/* A message whose content and client id encode (conv index, seq). */
static void mk_msg(pl_msg *m, const pl_uuid *conv, const pl_uuid *sender,
                   int64_t seq, const char *tag, char *buf, size_t cap)
{
    memset(m, 0, sizeof(*m));
    m->conv_id = *conv;
    m->sender_id = *sender;
    m->seq = seq;
    m->created_ms = 1700000000000 + seq;
    pl_uuid_v7(&m->msg_id, m->created_ms);
    snprintf(m->client_msg_id, sizeof(m->client_msg_id), "%s-%lld", tag,
             (long long)seq);
    snprintf(buf, cap, "hello %s #%lld", tag, (long long)seq);
    m->content = buf;
    m->content_len = strlen(buf);
}

/* --- users -------------------------------------------------------------- */

static void test_users(pl_store_conn *c)
{
    pl_user a = mk_user("Alice"), b = mk_user("alice"), got;
    pl_uuid ids[3];
    bool found[3];

    CHECK_EQ_INT(pl_store_user_create(c, &a), PL_OK);
    CHECK_EQ_INT(pl_store_user_create(c, &b), PL_ERR_CONFLICT);
    b = mk_user("bob");
    b.id = a.id;
    CHECK_EQ_INT(pl_store_user_create(c, &b), PL_ERR_CONFLICT);

    CHECK_EQ_INT(pl_store_user_by_name(c, "ALICE", &got), PL_OK);
    CHECK(pl_uuid_eq(&got.id, &a.id));
    CHECK_STR(got.username, "Alice");
    CHECK_STR(got.pw_hash, a.pw_hash);
    CHECK_EQ_INT(got.created_ms, a.created_ms);
    CHECK_EQ_INT(pl_store_user_by_name(c, "bob", &got), PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_user_by_name(c,
                                       "x2345678901234567890123456789012"
                                       "3",
                                       &got),
                 PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_user_by_id(c, &a.id, &got), PL_OK);
    CHECK_STR(got.username, "Alice");
    pl_uuid_v4(&ids[0]);
    CHECK_EQ_INT(pl_store_user_by_id(c, &ids[0], &got), PL_ERR_NOTFOUND);

    ids[1] = a.id;
    pl_uuid_v4(&ids[2]);
    CHECK_EQ_INT(pl_store_users_exist(c, ids, 3, found), PL_OK);
    CHECK(!found[0] && found[1] && !found[2]);

    /* An unterminated username array is refused, not over-read. */
    b = mk_user("carol");
    memset(b.username, 'c', sizeof(b.username));
    CHECK_EQ_INT(pl_store_user_create(c, &b), PL_ERR_INVALID);
}

static void test_users_bulk(pl_store_conn *c)
{
    enum { N = 10000 };
    pl_user *u = calloc(N, sizeof(*u)), got;
    char name[32];
    double t0, dt;

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "bulk%05d", i);
        u[i] = mk_user(name);
    }
    /* A duplicate (case-insensitive) at the end fails the whole batch. */
    snprintf(u[N - 1].username, sizeof(u[N - 1].username), "BULK00000");
    CHECK_EQ_INT(pl_store_users_create_bulk(c, u, N), PL_ERR_CONFLICT);
    CHECK_EQ_INT(pl_store_user_by_name(c, "bulk00001", &got), PL_ERR_NOTFOUND);

    snprintf(u[N - 1].username, sizeof(u[N - 1].username), "bulk%05d", N - 1);
    t0 = now_s();
    CHECK_EQ_INT(pl_store_users_create_bulk(c, u, N), PL_OK);
    dt = now_s() - t0;
    printf("users_create_bulk: %d users in %.3f s\n", N, dt);
    CHECK(dt < 2.0); /* "well under a second"; slack for a loaded CI box */
    CHECK_EQ_INT(pl_store_user_by_name(c, "BULK09999", &got), PL_OK);
    CHECK(pl_uuid_eq(&got.id, &u[N - 1].id));
    CHECK_EQ_INT(pl_store_users_create_bulk(c, u, 0), PL_OK);
    free(u);
}

/* --- conversations -------------------------------------------------------- */

static void test_direct(pl_store_conn *c)
{
    pl_user a = mk_user("dir_a"), b = mk_user("dir_b"), z = mk_user("dir_z");
    pl_conv cv, cv2, got;
    bool created = true;
    pl_uuid first;

    CHECK_EQ_INT(pl_store_user_create(c, &a), PL_OK);
    CHECK_EQ_INT(pl_store_user_create(c, &b), PL_OK);
    memset(&cv, 0, sizeof(cv));
    pl_uuid_v4(&cv.id);
    cv.created_ms = 42;
    first = cv.id;
    CHECK_EQ_INT(pl_store_conv_create_direct(c, &a.id, &b.id, &cv, &created),
                 PL_OK);
    CHECK(created);
    CHECK(pl_uuid_eq(&cv.id, &first));
    CHECK_EQ_INT(cv.type, PL_CONV_DIRECT);
    CHECK_EQ_INT(cv.member_count, 2);

    /* The other order finds the same conversation. */
    memset(&cv2, 0, sizeof(cv2));
    pl_uuid_v4(&cv2.id);
    cv2.created_ms = 99;
    CHECK_EQ_INT(pl_store_conv_create_direct(c, &b.id, &a.id, &cv2, &created),
                 PL_OK);
    CHECK(!created);
    CHECK(pl_uuid_eq(&cv2.id, &first));
    CHECK_EQ_INT(cv2.created_ms, 42);
    CHECK_EQ_INT(cv2.member_count, 2);
    CHECK_STR(cv2.name, "");

    CHECK_EQ_INT(pl_store_conv_create_direct(c, &a.id, &a.id, &cv2, &created),
                 PL_ERR_INVALID);
    pl_uuid_v4(&cv2.id);
    CHECK_EQ_INT(pl_store_conv_create_direct(c, &a.id, &z.id, &cv2, &created),
                 PL_ERR_NOTFOUND);
    CHECK(!created);
    CHECK_EQ_INT(pl_store_conv_get(c, &cv2.id, &got), PL_ERR_NOTFOUND);

    CHECK_EQ_INT(pl_store_conv_get(c, &first, &got), PL_OK);
    CHECK_EQ_INT(got.type, PL_CONV_DIRECT);
    CHECK_EQ_INT(got.last_seq, 0);
    CHECK_EQ_INT(got.member_count, 2);
    CHECK_EQ_INT(got.created_ms, 42);
}

static void test_group(pl_store_conn *c)
{
    pl_user owner = mk_user("grp_owner"), m1 = mk_user("grp_m1");
    pl_conv cv = mk_group("team", 1000), got;
    pl_uuid members[4], ghost;
    pl_member *page;
    size_t n;
    int role = 0;

    CHECK_EQ_INT(pl_store_user_create(c, &owner), PL_OK);
    CHECK_EQ_INT(pl_store_user_create(c, &m1), PL_OK);
    pl_uuid_v4(&ghost);

    /* An unknown member: the whole creation fails, nothing is written. */
    members[0] = m1.id;
    members[1] = ghost;
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, &owner.id, members, 2),
                 PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_conv_get(c, &cv.id, &got), PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_member_role(c, &cv.id, &m1.id, &role),
                 PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, &ghost, members, 1),
                 PL_ERR_NOTFOUND);

    /* The creator listed and a duplicate: both ignored. */
    members[0] = m1.id;
    members[1] = owner.id;
    members[2] = m1.id;
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, &owner.id, members, 3),
                 PL_OK);
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, &owner.id, members, 0),
                 PL_ERR_CONFLICT);
    CHECK_EQ_INT(pl_store_conv_get(c, &cv.id, &got), PL_OK);
    CHECK_EQ_INT(got.type, PL_CONV_GROUP);
    CHECK_STR(got.name, "team");
    CHECK_EQ_INT(got.member_count, 2);
    CHECK_EQ_INT(pl_store_member_role(c, &cv.id, &owner.id, &role), PL_OK);
    CHECK_EQ_INT(role, PL_ROLE_ADMIN);
    CHECK_EQ_INT(pl_store_member_role(c, &cv.id, &m1.id, &role), PL_OK);
    CHECK_EQ_INT(role, PL_ROLE_MEMBER);
    CHECK_EQ_INT(pl_store_member_role(c, &cv.id, &ghost, &role),
                 PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_members_page(c, &cv.id, NULL, 10, &page, &n), PL_OK);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(page[i].joined_ms, 1000);
    free(page);
}

static int uuid_sort(const void *a, const void *b)
{
    return pl_uuid_cmp(a, b);
}

static void check_pages(pl_store_conn *c, const pl_uuid *conv,
                        const pl_uuid *sorted, size_t total)
{
    pl_uuid cursor;
    pl_member *page;
    size_t n, seen = 0;
    bool more = true;
    int pages = 0;

    while (more && pages < 100) {
        CHECK_EQ_INT(
            pl_store_members_page(c, conv, seen ? &cursor : NULL, 7, &page, &n),
            PL_OK);
        for (size_t i = 0; i < n && seen + i < total; i++)
            CHECK(pl_uuid_eq(&page[i].user_id, &sorted[seen + i]));
        if (n)
            cursor = page[n - 1].user_id;
        seen += n;
        more = n == 7;
        pages++;
        free(page);
    }
    CHECK_EQ_INT(seen, total);
    CHECK_EQ_INT(pages, (int)(total / 7 + 1));
}

static void test_members(pl_store_conn *c)
{
    enum { N = 25 };
    pl_user owner = mk_user("mem_owner"), u[N];
    pl_conv cv = mk_group("members", 5);
    pl_uuid ids[N + 1], sorted[N + 1], ghost;
    pl_read_offset off;
    pl_member *page;
    size_t added = 99, n;
    int64_t count = 0;
    int role;
    char name[32];

    CHECK_EQ_INT(pl_store_user_create(c, &owner), PL_OK);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "mem_%02d", i);
        u[i] = mk_user(name);
        ids[i] = u[i].id;
        CHECK_EQ_INT(pl_store_user_create(c, &u[i]), PL_OK);
    }
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, &owner.id, ids, 5), PL_OK);

    /* Unknown user: nothing added, not even the valid ones before it. */
    pl_uuid_v4(&ghost);
    ids[N] = ghost;
    CHECK_EQ_INT(
        pl_store_members_add(c, &cv.id, ids, N + 1, PL_ROLE_MEMBER, 7, &added),
        PL_ERR_NOTFOUND);
    CHECK_EQ_INT(added, 0);
    CHECK_EQ_INT(pl_store_member_count(c, &cv.id, &count), PL_OK);
    CHECK_EQ_INT(count, 6);
    CHECK_EQ_INT(
        pl_store_members_add(c, &ghost, ids, 1, PL_ROLE_MEMBER, 7, &added),
        PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_members_add(c, &cv.id, ids, 1, 7, 7, &added),
                 PL_ERR_INVALID);

    /* 5 existing + 20 new + a duplicate of a new one. */
    ids[N] = ids[N - 1];
    CHECK_EQ_INT(
        pl_store_members_add(c, &cv.id, ids, N + 1, PL_ROLE_MEMBER, 7, &added),
        PL_OK);
    CHECK_EQ_INT(added, N - 5);
    CHECK_EQ_INT(pl_store_member_count(c, &cv.id, &count), PL_OK);
    CHECK_EQ_INT(count, N + 1);

    /* Adding as ADMIN promotes an existing member, counts no new row. */
    CHECK_EQ_INT(
        pl_store_members_add(c, &cv.id, &ids[3], 1, PL_ROLE_ADMIN, 8, &added),
        PL_OK);
    CHECK_EQ_INT(added, 0);
    CHECK_EQ_INT(pl_store_member_role(c, &cv.id, &ids[3], &role), PL_OK);
    CHECK_EQ_INT(role, PL_ROLE_ADMIN);
    /* ...and re-adding as MEMBER does not demote. */
    CHECK_EQ_INT(
        pl_store_members_add(c, &cv.id, &ids[3], 1, PL_ROLE_MEMBER, 8, &added),
        PL_OK);
    CHECK_EQ_INT(pl_store_member_role(c, &cv.id, &ids[3], &role), PL_OK);
    CHECK_EQ_INT(role, PL_ROLE_ADMIN);

    memcpy(sorted, ids, N * sizeof(pl_uuid));
    sorted[N] = owner.id;
    qsort(sorted, N + 1, sizeof(pl_uuid), uuid_sort);
    check_pages(c, &cv.id, sorted, N + 1);
    CHECK_EQ_INT(pl_store_members_page(c, &cv.id, &sorted[N], 10, &page, &n),
                 PL_OK);
    CHECK_EQ_INT(n, 0);
    free(page);
    CHECK_EQ_INT(pl_store_members_page(c, &ghost, NULL, 10, &page, &n),
                 PL_ERR_NOTFOUND);

    /* Remove drops the read state: a re-added member starts at 0. */
    off.conv_id = cv.id;
    off.user_id = ids[0];
    off.seq = 5;
    CHECK_EQ_INT(pl_store_read_offsets(c, &off, 1), PL_OK);
    CHECK_EQ_INT(pl_store_member_remove(c, &cv.id, &ids[0]), PL_OK);
    CHECK_EQ_INT(pl_store_member_remove(c, &cv.id, &ids[0]), PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_member_remove(c, &cv.id, &ghost), PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_member_role(c, &cv.id, &ids[0], &role),
                 PL_ERR_NOTFOUND);
    CHECK_EQ_INT(
        pl_store_members_add(c, &cv.id, ids, 1, PL_ROLE_MEMBER, 9, &added),
        PL_OK);
    CHECK_EQ_INT(added, 1);
    CHECK_EQ_INT(pl_store_members_page(c, &cv.id, NULL, 1000, &page, &n),
                 PL_OK);
    CHECK_EQ_INT(n, N + 1);
    for (size_t i = 0; i < n; i++) {
        if (!pl_uuid_eq(&page[i].user_id, &ids[0]))
            continue;
        CHECK_EQ_INT(page[i].last_read_seq, 0);
        CHECK_EQ_INT(page[i].joined_ms, 9);
        CHECK_STR(page[i].username, "mem_00");
    }
    free(page);
}

/* --- messages ------------------------------------------------------------- */

enum { NCONV = 10, PER_CONV = 100 };

typedef struct msg_fixture {
    pl_user sender;
    pl_conv conv[NCONV];
} msg_fixture;

static void setup_msgs(pl_store_conn *c, msg_fixture *f)
{
    pl_msg *m = calloc(NCONV * PER_CONV, sizeof(*m));
    char(*buf)[64] = calloc(NCONV * PER_CONV, 64);
    char name[32];
    size_t k = 0;

    f->sender = mk_user("msg_sender");
    CHECK_EQ_INT(pl_store_user_create(c, &f->sender), PL_OK);
    for (int i = 0; i < NCONV; i++) {
        snprintf(name, sizeof(name), "conv%d", i);
        f->conv[i] = mk_group(name, 100 + i);
        CHECK_EQ_INT(
            pl_store_conv_create_group(c, &f->conv[i], &f->sender.id, NULL, 0),
            PL_OK);
    }
    /* Interleaved: seq s of every conversation before seq s + 1. */
    for (int s = 1; s <= PER_CONV; s++)
        for (int i = 0; i < NCONV; i++, k++) {
            snprintf(name, sizeof(name), "c%d", i);
            mk_msg(&m[k], &f->conv[i].id, &f->sender.id, s, name, buf[k], 64);
        }
    CHECK_EQ_INT(pl_store_append(c, m, k, NULL, 0), PL_OK);
    free(m);
    free(buf);
}

static void check_range(pl_store_conn *c, const pl_uuid *conv, int64_t after,
                        int64_t before, size_t limit, int64_t first,
                        size_t want_n, bool want_more)
{
    pl_msg *m = NULL;
    size_t n = 99;
    bool more = !want_more;
    char text[64];

    CHECK_EQ_INT(
        pl_store_msgs_range(c, conv, after, before, limit, &m, &n, &more),
        PL_OK);
    CHECK_EQ_INT(n, want_n);
    CHECK_EQ_INT(more, want_more);
    for (size_t i = 0; i < n && i < want_n; i++) {
        CHECK_EQ_INT(m[i].seq, first + (int64_t)i);
        CHECK(pl_uuid_eq(&m[i].conv_id, conv));
        CHECK_EQ_INT(m[i].created_ms, 1700000000000 + m[i].seq);
        snprintf(text, sizeof(text), "#%lld", (long long)m[i].seq);
        CHECK(strstr(m[i].content, text) != NULL);
        CHECK_EQ_INT(m[i].content_len, strlen(m[i].content));
    }
    pl_msg_list_free(m, n);
}

static void test_ranges(pl_store_conn *c, msg_fixture *f)
{
    const pl_uuid *cv = &f->conv[3].id;
    int64_t last = 0;
    pl_uuid ghost;
    pl_msg *m;
    size_t n;
    bool more;

    for (int i = 0; i < NCONV; i++) {
        CHECK_EQ_INT(pl_store_conv_last_seq(c, &f->conv[i].id, &last), PL_OK);
        CHECK_EQ_INT(last, PER_CONV);
    }
    check_range(c, cv, 0, 0, 50, 1, 50, true);
    check_range(c, cv, 50, 0, 50, 51, 50, false);
    check_range(c, cv, 49, 0, 50, 50, 50, true);
    check_range(c, cv, 99, 0, 50, 100, 1, false);
    check_range(c, cv, 100, 0, 50, 0, 0, false);
    check_range(c, cv, -1, 101, 30, 71, 30, true);
    check_range(c, cv, -1, 31, 30, 1, 30, false);
    check_range(c, cv, -1, 32, 30, 2, 30, true);
    check_range(c, cv, -1, 30, 30, 1, 29, false);
    check_range(c, cv, -1, 1, 30, 0, 0, false);
    check_range(c, cv, -1, 0, 10, 91, 10, true); /* neither: the latest */
    check_range(c, cv, -1, 0, 1000, 1, 100, false);
    check_range(c, cv, 0, 0, 0, 0, 0, true);

    pl_uuid_v4(&ghost);
    CHECK_EQ_INT(pl_store_msgs_range(c, &ghost, 0, 0, 10, &m, &n, &more),
                 PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &ghost, &last), PL_ERR_NOTFOUND);

    /* Sender and client id round-trip. */
    CHECK_EQ_INT(pl_store_msgs_range(c, cv, 9, 0, 1, &m, &n, &more), PL_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK(pl_uuid_eq(&m[0].sender_id, &f->sender.id));
        CHECK_STR(m[0].client_msg_id, "c3-10");
        CHECK_STR(m[0].content, "hello c3 #10");
    }
    pl_msg_list_free(m, n);
}

static void test_by_client_id(pl_store_conn *c, msg_fixture *f)
{
    pl_msg m;
    pl_uuid ghost;

    CHECK_EQ_INT(pl_store_msg_by_client_id(c, &f->conv[7].id, &f->sender.id,
                                           "c7-42", &m),
                 PL_OK);
    CHECK_EQ_INT(m.seq, 42);
    CHECK(pl_uuid_eq(&m.conv_id, &f->conv[7].id));
    CHECK(pl_uuid_eq(&m.sender_id, &f->sender.id));
    CHECK_STR(m.content, "hello c7 #42");
    CHECK_STR(m.client_msg_id, "c7-42");
    pl_msg_clear(&m);
    CHECK(m.content == NULL);
    /* Same client id, other conversation: not a match. */
    CHECK_EQ_INT(pl_store_msg_by_client_id(c, &f->conv[6].id, &f->sender.id,
                                           "c7-42", &m),
                 PL_ERR_NOTFOUND);
    pl_uuid_v4(&ghost);
    CHECK_EQ_INT(
        pl_store_msg_by_client_id(c, &f->conv[7].id, &ghost, "c7-42", &m),
        PL_ERR_NOTFOUND);
}

/* A batch of fresh messages with one bad entry at position bad. */
static void check_batch_fails(pl_store_conn *c, msg_fixture *f, int kind,
                              pl_status want)
{
    pl_msg m[4];
    char buf[4][64];
    pl_msg got;
    int64_t last = 0;

    for (int i = 0; i < 4; i++)
        mk_msg(&m[i], &f->conv[i].id, &f->sender.id, PER_CONV + 1, "new",
               buf[i], 64);
    if (kind == 0)
        m[3].seq = PER_CONV; /* (conv, seq) exists */
    else if (kind == 1)
        snprintf(m[3].client_msg_id, sizeof(m[3].client_msg_id), "c3-5");
    else if (kind == 2)
        pl_uuid_v4(&m[3].conv_id);
    else if (kind == 3)
        m[3].conv_id = m[2].conv_id; /* duplicate within the batch */
    CHECK_EQ_INT(pl_store_append(c, m, 4, NULL, 0), want);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(pl_store_conv_last_seq(c, &f->conv[i].id, &last), PL_OK);
        CHECK_EQ_INT(last, PER_CONV);
    }
    CHECK_EQ_INT(pl_store_msg_by_client_id(c, &f->conv[0].id, &f->sender.id,
                                           m[0].client_msg_id, &got),
                 PL_ERR_NOTFOUND);
}

static void test_batch_atomic(pl_store_conn *c, msg_fixture *f)
{
    pl_msg m;
    char buf[64];
    pl_msg *out;
    size_t n;
    bool more;
    static const char nul_content[] = "a\0b";

    check_batch_fails(c, f, 0, PL_ERR_CONFLICT);
    check_batch_fails(c, f, 1, PL_ERR_CONFLICT);
    check_batch_fails(c, f, 2, PL_ERR_NOTFOUND);
    check_batch_fails(c, f, 3, PL_ERR_CONFLICT);

    /* Invalid seq; then content with an embedded NUL survives intact. */
    mk_msg(&m, &f->conv[9].id, &f->sender.id, 0, "bad", buf, sizeof(buf));
    CHECK_EQ_INT(pl_store_append(c, &m, 1, NULL, 0), PL_ERR_INVALID);
    mk_msg(&m, &f->conv[9].id, &f->sender.id, PER_CONV + 1, "nul", buf,
           sizeof(buf));
    m.content = (char *)nul_content;
    m.content_len = 3;
    CHECK_EQ_INT(pl_store_append(c, &m, 1, NULL, 0), PL_OK);
    CHECK_EQ_INT(
        pl_store_msgs_range(c, &f->conv[9].id, PER_CONV, 0, 5, &out, &n, &more),
        PL_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(out[0].content_len, 3);
        CHECK(memcmp(out[0].content, nul_content, 4) == 0);
    }
    pl_msg_list_free(out, n);
    CHECK_EQ_INT(pl_store_append(c, NULL, 0, NULL, 0), PL_OK);
}

/* --- read offsets and the conversation list ------------------------------ */

static int64_t read_seq_in_list(pl_store_conn *c, const pl_uuid *user,
                                const pl_uuid *conv)
{
    pl_conv *l;
    size_t n;
    int64_t v = -1;

    if (pl_store_conv_list(c, user, 100, &l, &n) != PL_OK)
        return -2;
    for (size_t i = 0; i < n; i++)
        if (pl_uuid_eq(&l[i].id, conv))
            v = l[i].last_read_seq;
    free(l);
    return v;
}

static void test_offsets(pl_store_conn *c, msg_fixture *f)
{
    const pl_uuid *cv = &f->conv[0].id, *u = &f->sender.id;
    pl_read_offset o = {.conv_id = *cv, .user_id = *u, .seq = 10};
    pl_read_offset both[2];
    pl_msg m;
    char buf[64];

    CHECK_EQ_INT(read_seq_in_list(c, u, cv), 0);
    CHECK_EQ_INT(pl_store_read_offsets(c, &o, 1), PL_OK);
    CHECK_EQ_INT(read_seq_in_list(c, u, cv), 10);
    o.seq = 4;
    CHECK_EQ_INT(pl_store_read_offsets(c, &o, 1), PL_OK);
    CHECK_EQ_INT(read_seq_in_list(c, u, cv), 10);
    o.seq = 30;
    both[0] = o;
    both[1] = o;
    both[1].seq = 20; /* later in the batch but lower: ignored */
    CHECK_EQ_INT(pl_store_read_offsets(c, both, 2), PL_OK);
    CHECK_EQ_INT(read_seq_in_list(c, u, cv), 30);
    o.seq = -1;
    CHECK_EQ_INT(pl_store_read_offsets(c, &o, 1), PL_ERR_INVALID);
    pl_uuid_v4(&o.user_id);
    o.seq = 50;
    CHECK_EQ_INT(pl_store_read_offsets(c, &o, 1), PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_store_read_offsets(c, NULL, 0), PL_OK);

    /* Offsets in an append commit with its messages. */
    mk_msg(&m, cv, u, PER_CONV + 1, "own", buf, sizeof(buf));
    m.created_ms = 1700000000000 + 500; /* the newest (conv list test) */
    o.user_id = *u;
    o.seq = PER_CONV + 1;
    CHECK_EQ_INT(pl_store_append(c, &m, 1, &o, 1), PL_OK);
    CHECK_EQ_INT(read_seq_in_list(c, u, cv), PER_CONV + 1);
    /* ...and roll back with them. */
    mk_msg(&m, cv, u, PER_CONV + 1, "dup", buf, sizeof(buf));
    o.seq = PER_CONV + 50;
    CHECK_EQ_INT(pl_store_append(c, &m, 1, &o, 1), PL_ERR_CONFLICT);
    CHECK_EQ_INT(read_seq_in_list(c, u, cv), PER_CONV + 1);
}

static void test_conv_list(pl_store_conn *c, msg_fixture *f)
{
    pl_user other = mk_user("list_other");
    pl_conv *l;
    pl_uuid *ids;
    size_t n, added;
    pl_msg m;
    char buf[64];

    /* Newest activity first: conv[0] got the last message (offsets test),
     * conv[9] the one before; the rest by their last message time, equal
     * (same seq), then newest row first. */
    CHECK_EQ_INT(pl_store_conv_list(c, &f->sender.id, 3, &l, &n), PL_OK);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK(pl_uuid_eq(&l[0].id, &f->conv[0].id));
        CHECK(pl_uuid_eq(&l[1].id, &f->conv[9].id));
        CHECK(pl_uuid_eq(&l[2].id, &f->conv[8].id));
        CHECK_EQ_INT(l[0].last_seq, PER_CONV + 1);
        CHECK_EQ_INT(l[0].last_read_seq, PER_CONV + 1);
        CHECK_EQ_INT(l[0].role, PL_ROLE_ADMIN);
        CHECK_EQ_INT(l[0].member_count, 1);
        CHECK_EQ_INT(l[0].type, PL_CONV_GROUP);
        CHECK_STR(l[0].name, "conv0");
        CHECK_EQ_INT(l[2].last_read_seq, 0);
    }
    free(l);

    /* A message in conv[5] moves it to the front. */
    mk_msg(&m, &f->conv[5].id, &f->sender.id, PER_CONV + 1, "late", buf,
           sizeof(buf));
    m.created_ms = 1800000000000;
    CHECK_EQ_INT(pl_store_append(c, &m, 1, NULL, 0), PL_OK);
    CHECK_EQ_INT(pl_store_conv_list(c, &f->sender.id, 100, &l, &n), PL_OK);
    CHECK_EQ_INT(n, NCONV);
    if (n == NCONV)
        CHECK(pl_uuid_eq(&l[0].id, &f->conv[5].id));
    free(l);

    /* Another user: member of one conversation, role MEMBER, 0 read. */
    CHECK_EQ_INT(pl_store_user_create(c, &other), PL_OK);
    CHECK_EQ_INT(pl_store_conv_list(c, &other.id, 100, &l, &n), PL_OK);
    CHECK_EQ_INT(n, 0);
    free(l);
    CHECK_EQ_INT(pl_store_members_add(c, &f->conv[2].id, &other.id, 1,
                                      PL_ROLE_MEMBER, 1, &added),
                 PL_OK);
    CHECK_EQ_INT(pl_store_conv_list(c, &other.id, 100, &l, &n), PL_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(l[0].role, PL_ROLE_MEMBER);
        CHECK_EQ_INT(l[0].last_seq, PER_CONV);
        CHECK_EQ_INT(l[0].last_read_seq, 0);
        CHECK_EQ_INT(l[0].member_count, 2);
    }
    free(l);
    CHECK_EQ_INT(pl_store_conv_list(c, &f->sender.id, 0, &l, &n), PL_OK);
    CHECK_EQ_INT(n, 0);
    free(l);

    CHECK_EQ_INT(pl_store_conv_ids_for_user(c, &f->sender.id, &ids, &n), PL_OK);
    CHECK_EQ_INT(n, NCONV);
    free(ids);
    CHECK_EQ_INT(pl_store_conv_ids_for_user(c, &other.id, &ids, &n), PL_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK(pl_uuid_eq(&ids[0], &f->conv[2].id));
    free(ids);
}

/* --- two writers on two threads ------------------------------------------- */

typedef struct writer {
    pl_store *store;
    pl_uuid conv, sender;
    int failures;
} writer;

static void *writer_main(void *arg)
{
    enum { BATCHES = 100, BATCH = 50 };
    writer *w = arg;
    pl_store_conn *c = NULL;
    pl_msg m[BATCH];
    char buf[BATCH][64];
    int64_t seq = 1;

    if (pl_store_conn_open(w->store, &c) != PL_OK) {
        w->failures = -1;
        return NULL;
    }
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < BATCH; i++, seq++)
            mk_msg(&m[i], &w->conv, &w->sender, seq, "thr", buf[i], 64);
        if (pl_store_append(c, m, BATCH, NULL, 0) != PL_OK)
            w->failures++;
    }
    pl_store_conn_close(c);
    return NULL;
}

static void test_threads(pl_store *s, pl_store_conn *c, msg_fixture *f)
{
    writer w[2];
    pthread_t t[2];
    pl_conv cv[2];
    int64_t last;

    for (int i = 0; i < 2; i++) {
        cv[i] = mk_group("threaded", 1);
        CHECK_EQ_INT(
            pl_store_conv_create_group(c, &cv[i], &f->sender.id, NULL, 0),
            PL_OK);
        memset(&w[i], 0, sizeof(w[i]));
        w[i].store = s;
        w[i].conv = cv[i].id;
        w[i].sender = f->sender.id;
    }
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, writer_main, &w[i]) == 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(w[i].failures, 0);
        CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv[i].id, &last), PL_OK);
        CHECK_EQ_INT(last, 5000);
    }
}

static void test_reopen(pl_config *cfg, msg_fixture *f)
{
    pl_store *s = NULL;
    pl_store_conn *c = NULL;
    pl_user u;
    int64_t last = 0;

    CHECK_EQ_INT(pl_store_open(cfg, &s), PL_OK);
    if (!s)
        return;
    CHECK_EQ_INT(pl_store_conn_open(s, &c), PL_OK);
    if (c) {
        CHECK_EQ_INT(pl_store_user_by_name(c, "msg_sender", &u), PL_OK);
        CHECK_EQ_INT(pl_store_conv_last_seq(c, &f->conv[1].id, &last), PL_OK);
        CHECK_EQ_INT(last, PER_CONV);
        check_range(c, &f->conv[1].id, 0, 0, 5, 1, 5, true);
    }
    pl_store_conn_close(c);
    pl_store_close(s);
}

/* Every generic case, in order (later ones build on earlier data): f is
 * filled for test_reopen and the backend's own cases. */
static void store_suite(pl_store *s, pl_store_conn *c, msg_fixture *f)
{
    test_users(c);
    test_users_bulk(c);
    test_direct(c);
    test_group(c);
    test_members(c);
    setup_msgs(c, f);
    test_ranges(c, f);
    test_by_client_id(c, f);
    test_batch_atomic(c, f);
    test_offsets(c, f);
    test_conv_list(c, f);
    test_threads(s, c, f);
}

#endif
