/* presence_role.c - see presence_role.h. */
#include "presence_role.h"

#include <jansson.h>
#include <string.h>

#include "../core/log.h"
#include "../core/timeutil.h"

json_t *pl_presence_json(const pl_uuid *user, bool online,
                         int64_t last_seen_ms)
{
    char id[PL_UUID_STRLEN + 1], ts[PL_TIME_STRLEN + 1];
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("presence"));
    json_object_set_new(o, "user_id", json_string(pl_uuid_fmt(user, id)));
    json_object_set_new(o, "status", json_string(online ? "online" : "offline"));
    json_object_set_new(o, "last_seen_at",
                        last_seen_ms > 0
                            ? json_string(pl_time_fmt(last_seen_ms, ts))
                            : json_null());
    return o;
}

static void publish(pl_node *node, const pl_uuid *user, bool online,
                    int64_t last_seen_ms)
{
    json_t *o = pl_presence_json(user, online, last_seen_ms);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    pl_rbuf *payload = pl_rbuf_copy(s, strlen(s));
    free(s);
    if (!payload)
        return;
    /* keyed by the user: gateways deliver it to that user's subscribers */
    pl_bus_msg m = {.topic = PL_TOPIC_PRESENCE, .key = *user, .payload = payload};
    pl_bus_publish(node->bus, &m);
    pl_rbuf_unref(payload);
}

void pl_presence_role_online(pl_node *node, const pl_uuid *user)
{
    bool changed = false;
    if (pl_presence_connect(node->presence, user, &changed) == PL_OK && changed)
        publish(node, user, true, 0);
}

void pl_presence_role_offline(pl_node *node, const pl_uuid *user)
{
    bool changed = false;
    int64_t now = pl_now_ms();
    if (pl_presence_disconnect(node->presence, user, now, &changed) == PL_OK &&
        changed)
        publish(node, user, false, now);
}
