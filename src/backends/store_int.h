/* store_int.h - what a store backend implements (backend-facing view).
 *
 * One ops table per backend, filled with designated initialisers and
 * registered by name in store.c. Methods are listed in the order they were
 * added; new methods go at the end and must be optional (NULL = PL_ERR). */
#ifndef PL_STORE_INT_H
#define PL_STORE_INT_H

#include "store.h"

typedef struct pl_store_ops {
    const char *name;
    pl_status (*open)(const struct pl_config *cfg, pl_store **out);
    void (*close)(pl_store *s);
    pl_status (*conn_open)(pl_store *s, pl_store_conn **out);
    void (*conn_close)(pl_store_conn *c);

    pl_status (*user_create)(pl_store_conn *, const pl_user *);
    pl_status (*users_create_bulk)(pl_store_conn *, const pl_user *, size_t);
    pl_status (*user_by_name)(pl_store_conn *, const char *, pl_user *);
    pl_status (*user_by_id)(pl_store_conn *, const pl_uuid *, pl_user *);
    pl_status (*users_exist)(pl_store_conn *, const pl_uuid *, size_t, bool *);

    pl_status (*conv_create_direct)(pl_store_conn *, const pl_uuid *,
                                    const pl_uuid *, pl_conv *, bool *);
    pl_status (*conv_create_group)(pl_store_conn *, const pl_conv *,
                                   const pl_uuid *, const pl_uuid *, size_t);
    pl_status (*conv_get)(pl_store_conn *, const pl_uuid *, pl_conv *);
    pl_status (*conv_list)(pl_store_conn *, const pl_uuid *, size_t,
                           pl_conv **, size_t *);
    pl_status (*conv_ids_for_user)(pl_store_conn *, const pl_uuid *,
                                   pl_uuid **, size_t *);
    pl_status (*member_role)(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                             int *);
    pl_status (*members_add)(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                             size_t, int, int64_t, size_t *);
    pl_status (*member_remove)(pl_store_conn *, const pl_uuid *,
                               const pl_uuid *);
    pl_status (*members_page)(pl_store_conn *, const pl_uuid *,
                              const pl_uuid *, size_t, pl_member **, size_t *);
    pl_status (*member_count)(pl_store_conn *, const pl_uuid *, int64_t *);

    pl_status (*conv_last_seq)(pl_store_conn *, const pl_uuid *, int64_t *);
    pl_status (*msg_by_client_id)(pl_store_conn *, const pl_uuid *,
                                  const pl_uuid *, const char *, pl_msg *);
    pl_status (*append)(pl_store_conn *, const pl_msg *, size_t,
                        const pl_read_offset *, size_t);
    pl_status (*msgs_range)(pl_store_conn *, const pl_uuid *, int64_t, int64_t,
                            size_t, pl_msg **, size_t *, bool *);
    pl_status (*read_offsets)(pl_store_conn *, const pl_read_offset *, size_t);
    pl_status (*read_offset_get)(pl_store_conn *, const pl_uuid *,
                                 const pl_uuid *, int64_t *);
} pl_store_ops;

/* Every backend's pl_store / pl_store_conn starts with this header so the
 * wrappers can find the ops. */
struct pl_store {
    const pl_store_ops *ops;
};
struct pl_store_conn {
    const pl_store_ops *ops;
};

extern const pl_store_ops pl_store_sqlite_ops;
extern const pl_store_ops pl_store_postgres_ops;

#endif
