/* test_netaddr.c - address parsing, CIDR lists (the trusted-proxies
 * option) and the X-Forwarded-For walk. */
#include "core/netaddr.h"

#include <arpa/inet.h>

#include "unit.h"

static pl_ipaddr A(const char *s)
{
    pl_ipaddr a;
    memset(&a, 0xee, sizeof a);
    CHECK(pl_ipaddr_parse(s, strlen(s), &a));
    return a;
}

static bool same(pl_ipaddr a, const char *s)
{
    char buf[PL_IPADDR_STRLEN];
    pl_ipaddr_fmt(&a, buf);
    if (strcmp(buf, s) != 0)
        fprintf(stderr, "got %s, want %s\n", buf, s);
    return strcmp(buf, s) == 0;
}

static void test_parse(void)
{
    pl_ipaddr a;
    CHECK(same(A("127.0.0.1"), "127.0.0.1"));
    a = A("10.1.2.3");
    CHECK(pl_ipaddr_is_v4(&a));
    CHECK(same(A("2001:db8::1"), "2001:db8::1"));
    a = A("2001:db8::1");
    CHECK(!pl_ipaddr_is_v4(&a));
    CHECK(same(A("::ffff:1.2.3.4"), "1.2.3.4")); /* mapped = IPv4 */
    const char *bad[] = {
        "",           "1.2.3",
        "1.2.3.4.5",  "256.1.1.1",
        "01.2.3.4x",  "1.2.3.4:80",
        "[::1]",      "::1%eth0",
        "fe80::1::2", "0x7f.0.0.1",
        " 1.2.3.4",   "1111:2222:3333:4444:5555:6666:7777:8888:9999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!pl_ipaddr_parse(bad[i], strlen(bad[i]), &a));
    CHECK(!pl_ipaddr_parse("1.2.3.4\0", 8, &a)); /* embedded NUL */
    struct in_addr in;
    inet_pton(AF_INET, "192.0.2.7", &in);
    pl_ipaddr_from_v4(&a, in.s_addr);
    CHECK(same(a, "192.0.2.7"));
    /* IPv6 clients are counted by /64, IPv4 by address */
    a = A("2001:db8:1:2:3:4:5:6");
    CHECK(same(pl_ipaddr_limit_key(&a), "2001:db8:1:2::"));
    a = A("10.0.0.9");
    CHECK(same(pl_ipaddr_limit_key(&a), "10.0.0.9"));
}

static void test_cidr(void)
{
    pl_cidr_list l;
    char err[128];
    CHECK_EQ_INT(pl_cidr_list_parse("none", &l, err, sizeof err), PL_OK);
    CHECK_EQ_INT(l.n, 0);
    pl_ipaddr x = A("10.0.0.1");
    CHECK(!pl_cidr_list_match(&l, &x));
    CHECK_EQ_INT(pl_cidr_list_parse("127.0.0.1, 10.0.0.0/8,192.168.1.77/24 ,"
                                    "2001:db8::/32, ::1",
                                    &l, err, sizeof err),
                 PL_OK);
    CHECK_EQ_INT(l.n, 5);
    const char *in[] = {"127.0.0.1", "10.255.3.4", "192.168.1.200",
                        "2001:db8:ffff::9", "::1"};
    const char *out[] = {"127.0.0.2",   "11.0.0.1", "192.168.2.1",
                         "2001:db9::1", "::2",      "::ffff:7f00:2"};
    for (size_t i = 0; i < 5; i++) {
        x = A(in[i]);
        CHECK(pl_cidr_list_match(&l, &x));
    }
    for (size_t i = 0; i < 6; i++) {
        x = A(out[i]);
        CHECK(!pl_cidr_list_match(&l, &x));
    }
    CHECK_EQ_INT(pl_cidr_list_parse("0.0.0.0/0", &l, err, sizeof err), PL_OK);
    x = A("8.8.8.8");
    CHECK(pl_cidr_list_match(&l, &x));
    x = A("2001:db8::1"); /* an IPv4 /0 is not every IPv6 address */
    CHECK(!pl_cidr_list_match(&l, &x));
    const char *bad[] = {"",
                         "10.0.0.0/33",
                         "::/129",
                         "10.0.0.0/",
                         "10/8",
                         "10.0.0.0/8,",
                         "x",
                         "10.0.0.0/-1",
                         "1.2.3.4/0008",
                         "none,10.0.0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_EQ_INT(pl_cidr_list_parse(bad[i], &l, err, sizeof err),
                     PL_ERR_INVALID);
        CHECK(err[0] != '\0');
    }
}

static pl_ipaddr walk(const pl_cidr_list *t, const char *peer, const char *h1,
                      const char *h2)
{
    const char *vals[2] = {h1, h2};
    size_t lens[2] = {h1 ? strlen(h1) : 0, h2 ? strlen(h2) : 0};
    pl_ipaddr p = A(peer);
    return pl_forwarded_client(t, &p, vals, lens, h2 ? 2 : h1 ? 1 : 0);
}

static void test_forwarded(void)
{
    pl_cidr_list t;
    CHECK_EQ_INT(pl_cidr_list_parse("127.0.0.1,10.0.0.0/8", &t, NULL, 0),
                 PL_OK);
    /* the proxy appended the client */
    CHECK(same(walk(&t, "127.0.0.1", "203.0.113.9", NULL), "203.0.113.9"));
    /* a client-supplied spoof on the left is not believed */
    CHECK(same(walk(&t, "127.0.0.1", "1.1.1.1, 203.0.113.9", NULL),
               "203.0.113.9"));
    /* a chain of trusted proxies is skipped */
    CHECK(same(walk(&t, "127.0.0.1", "1.1.1.1, 203.0.113.9, 10.0.0.5", NULL),
               "203.0.113.9"));
    /* two headers: the later one is the nearer */
    CHECK(same(walk(&t, "127.0.0.1", "198.51.100.1", "10.1.1.1"),
               "198.51.100.1"));
    /* all trusted: the leftmost */
    CHECK(same(walk(&t, "127.0.0.1", "10.0.0.1,10.0.0.2", NULL), "10.0.0.1"));
    /* garbage: the last good address, or the peer */
    CHECK(same(walk(&t, "127.0.0.1", "unknown", NULL), "127.0.0.1"));
    CHECK(same(walk(&t, "127.0.0.1", "", NULL), "127.0.0.1"));
    CHECK(same(walk(&t, "127.0.0.1", "203.0.113.9, ", NULL), "127.0.0.1"));
    CHECK(same(walk(&t, "127.0.0.1", "203.0.113.9,x,10.0.0.3", NULL),
               "10.0.0.3"));
    /* ports and brackets */
    CHECK(same(walk(&t, "127.0.0.1", "203.0.113.9:4711", NULL), "203.0.113.9"));
    CHECK(
        same(walk(&t, "127.0.0.1", "[2001:db8::7]:443", NULL), "2001:db8::7"));
    CHECK(same(walk(&t, "127.0.0.1", " 2001:db8::7 ", NULL), "2001:db8::7"));
    CHECK(same(walk(&t, "127.0.0.1", "[2001:db8::7", NULL), "127.0.0.1"));
    CHECK(same(walk(&t, "127.0.0.1", NULL, NULL), "127.0.0.1"));
}

int main(void)
{
    test_parse();
    test_cidr();
    test_forwarded();
    UNIT_DONE();
}
