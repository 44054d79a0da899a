/* bus_int.h - what a bus backend implements. New methods go at the end. */
#ifndef PL_BUS_INT_H
#define PL_BUS_INT_H

#include "bus.h"

typedef struct pl_bus_ops {
    const char *name;
    pl_status (*open)(const struct pl_config *cfg, pl_bus **out);
    void (*close)(pl_bus *b);
    pl_status (*subscribe)(pl_bus *b, const char *topic, pl_bus_handler h,
                           void *ctx);
    pl_status (*publish)(pl_bus *b, const pl_bus_msg *m);
} pl_bus_ops;

struct pl_bus {
    const pl_bus_ops *ops;
};

extern const pl_bus_ops pl_bus_inproc_ops;

#endif
