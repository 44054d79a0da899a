/* bus_int.h - what a bus backend implements. New methods go at the end. */
#ifndef PL_BUS_INT_H
#define PL_BUS_INT_H

#include "bus.h"

typedef struct pl_bus_ops {
    const char *name;
    pl_status (*open)(const struct pl_config *cfg, pl_bus **out);
    void (*close)(pl_bus *b);
    pl_status (*subscribe)(pl_bus *b, const char *topic, const char *group,
                           pl_bus_handler h, void *ctx);
    pl_status (*publish)(pl_bus *b, const pl_bus_msg *m);
    /* optional (NULL: nothing to do / not supported) */
    pl_status (*start)(pl_bus *b);
    void (*stop)(pl_bus *b, int timeout_ms);
    pl_status (*flush)(pl_bus *b, int timeout_ms);
    pl_status (*stream_open)(pl_bus *b, const char *topic, const char *group,
                             pl_bus_stream **out);
    size_t (*stream_poll)(pl_bus_stream *s, pl_bus_msg *out, size_t max,
                          int timeout_ms, uint64_t *epoch);
    pl_status (*stream_commit)(pl_bus_stream *s);
    void (*stream_close)(pl_bus_stream *s);
    bool remote;
} pl_bus_ops;

struct pl_bus_stream {
    const pl_bus_ops *ops;
};

struct pl_bus {
    const pl_bus_ops *ops;
};

extern const pl_bus_ops pl_bus_inproc_ops;
#ifdef PL_HAVE_KAFKA
extern const pl_bus_ops pl_bus_kafka_ops;
#endif

#endif
