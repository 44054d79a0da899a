/* test_config_redis.c - the options of presence=redis (a file of its own
 * so the main config test stays untouched): defaults, bounds, the
 * gateway-id alphabet. */
#include "core/config.h"
#include "unit.h"

int main(void)
{
    pl_config c;
    char e[256];
    pl_config_defaults(&c);
    CHECK_STR(c.redis_addrs, "127.0.0.1:6379");
    CHECK_STR(c.redis_mode, "auto");
    CHECK_STR(c.gateway_id, "auto");
    CHECK_EQ_INT(c.presence_ttl_ms, 30000);
    CHECK_EQ_INT(c.presence_refresh_ms, 10000);
    CHECK_EQ_INT(c.presence_queue, 65536);
    CHECK_EQ_INT(c.redis_connect_timeout_ms, 1000);
    CHECK_EQ_INT(c.redis_command_timeout_ms, 2000);
    CHECK_EQ_INT(pl_config_set(&c, "presence", "redis", e, sizeof e), PL_OK);
    CHECK_EQ_INT(pl_config_set(&c, "redis-mode", "cluster", e, sizeof e), PL_OK);
    CHECK_EQ_INT(pl_config_set(&c, "redis-mode", "sentinel", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "gateway-id", "gw-1.eu:7", e, sizeof e), PL_OK);
    CHECK_STR(c.gateway_id, "gw-1.eu:7");
    /* '{' '}' would break the hash tag of pl:gwu:{GW}; spaces, quotes: no */
    const char *bad[] = {"gw{1}", "gw 1", "gw\"", "", "g/w"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(pl_config_set(&c, "gateway-id", bad[i], e, sizeof e),
                     PL_ERR_INVALID);
    char longid[120];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    CHECK_EQ_INT(pl_config_set(&c, "gateway-id", longid, e, sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "presence-ttl-ms", "100", e, sizeof e),
                 PL_ERR_INVALID); /* below 500 */
    CHECK_EQ_INT(pl_config_set(&c, "presence-queue", "8", e, sizeof e),
                 PL_ERR_INVALID);
    UNIT_DONE();
}
