/* store.h - the `store` backend family: users, conversations, members,
 * per-user read state and messages.
 *
 * Callers use the pl_store_* wrappers below, never the ops table directly.
 * Every call may block (disk, network): call them only from worker threads
 * (the messaging pipeline, the work pool), never from an event-loop thread.
 *
 * Threading: one pl_store (shared, thread-safe to open connections from)
 * and one pl_store_conn per thread. A pl_store_conn is used by one thread
 * at a time.
 *
 * Ownership: input structs are borrowed for the call. Output structs are
 * filled by the store; strings inside outputs are either fixed arrays or,
 * for message content, malloc'd and freed with pl_msg_clear /
 * pl_msg_list_free. Arrays returned through *out are malloc'd and belong to
 * the caller (free() them, or the matching *_free for messages).
 *
 * Errors: PL_ERR_NOTFOUND (no row), PL_ERR_CONFLICT (unique violation),
 * PL_ERR_BUSY (database locked for too long, or - postgres - unreachable:
 * the call was certainly not carried out, so it may be retried later),
 * PL_ERR_IO (anything else, including a connection lost while the call
 * was in flight: its outcome is unknown, never retry a write blindly). */
#ifndef PL_STORE_H
#define PL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../core/uuid.h"

struct pl_config;

#define PL_USERNAME_MAX 32
#define PL_PWHASH_MAX 128
#define PL_CONV_NAME_MAX 128
#define PL_CLIENT_MSG_ID_MAX 64

enum pl_conv_type { PL_CONV_DIRECT = 1, PL_CONV_GROUP = 2 };
enum pl_member_role { PL_ROLE_MEMBER = 1, PL_ROLE_ADMIN = 2 };

typedef struct pl_user {
    pl_uuid id;
    char username[PL_USERNAME_MAX + 1];
    char pw_hash[PL_PWHASH_MAX + 1]; /* Argon2id encoded string; "!" = no
                                        password login (admin-created) */
    int64_t created_ms;
} pl_user;

typedef struct pl_conv {
    pl_uuid id;
    int type; /* enum pl_conv_type */
    char name[PL_CONV_NAME_MAX + 1]; /* "" for direct conversations */
    int64_t created_ms;
    int64_t last_seq;        /* highest stored seq, 0 if none */
    int64_t last_read_seq;   /* the asking user's offset (conv_list only) */
    int role;                /* the asking user's role (conv_list only) */
    int64_t member_count;    /* filled by conv_get and conv_list */
} pl_conv;

typedef struct pl_member {
    pl_uuid user_id;
    char username[PL_USERNAME_MAX + 1];
    int role; /* enum pl_member_role */
    int64_t joined_ms;
    int64_t last_read_seq;
} pl_member;

typedef struct pl_msg {
    pl_uuid conv_id;
    int64_t seq;
    pl_uuid msg_id; /* UUIDv7 */
    pl_uuid sender_id;
    char client_msg_id[PL_CLIENT_MSG_ID_MAX + 1];
    char *content; /* malloc'd, NUL-terminated, content_len bytes */
    size_t content_len;
    int64_t created_ms;
} pl_msg;

/* A read-offset update: moves (conv, user) forward to seq, never back. */
typedef struct pl_read_offset {
    pl_uuid conv_id;
    pl_uuid user_id;
    int64_t seq;
} pl_read_offset;

typedef struct pl_store pl_store;
typedef struct pl_store_conn pl_store_conn;

/* --- lifecycle ------------------------------------------------------ */

/* Opens the backend named cfg->store ("sqlite" or "postgres"),
 * creating/migrating the schema. PL_ERR_NOTFOUND for an unknown name. */
pl_status pl_store_open(const struct pl_config *cfg, pl_store **out);
void pl_store_close(pl_store *s);
const char *pl_store_name(const pl_store *s);
pl_status pl_store_conn_open(pl_store *s, pl_store_conn **out);
void pl_store_conn_close(pl_store_conn *c);

/* --- users ---------------------------------------------------------- */

/* PL_ERR_CONFLICT if the username (compared case-insensitively) exists. */
pl_status pl_store_user_create(pl_store_conn *c, const pl_user *u);
/* All-or-nothing bulk insert (admin create-users): one transaction. */
pl_status pl_store_users_create_bulk(pl_store_conn *c, const pl_user *u,
                                     size_t n);
pl_status pl_store_user_by_name(pl_store_conn *c, const char *username,
                                pl_user *out);
pl_status pl_store_user_by_id(pl_store_conn *c, const pl_uuid *id,
                              pl_user *out);
/* Resolves many ids at once (existence check for member adds): fills
 * found[i] = true/false. */
pl_status pl_store_users_exist(pl_store_conn *c, const pl_uuid *ids,
                               size_t n, bool *found);

/* --- conversations and members --------------------------------------- */

/* The one direct conversation of the pair {a, b} (a != b): returns the
 * existing one with *created = false, or creates it (both MEMBER) with the
 * id in conv->id and *created = true. conv is in/out: id and created_ms are
 * used when creating, and overwritten with the stored row. */
pl_status pl_store_conv_create_direct(pl_store_conn *c, const pl_uuid *a,
                                      const pl_uuid *b, pl_conv *conv,
                                      bool *created);
/* Creates a group: creator becomes ADMIN, members[] (may include the
 * creator: ignored) become MEMBER. One transaction. */
pl_status pl_store_conv_create_group(pl_store_conn *c, const pl_conv *conv,
                                     const pl_uuid *creator,
                                     const pl_uuid *members, size_t n);
pl_status pl_store_conv_get(pl_store_conn *c, const pl_uuid *conv_id,
                            pl_conv *out);
/* The user's conversations, most recently active first (by last message
 * time, else creation), with last_seq, last_read_seq and role filled.
 * At most limit rows; *out malloc'd, *n rows. */
pl_status pl_store_conv_list(pl_store_conn *c, const pl_uuid *user,
                             size_t limit, pl_conv **out, size_t *n);
/* Only the ids of all the user's conversations (gateway index). */
pl_status pl_store_conv_ids_for_user(pl_store_conn *c, const pl_uuid *user,
                                     pl_uuid **out, size_t *n);

/* PL_OK and *role filled if user is a member, else PL_ERR_NOTFOUND. */
pl_status pl_store_member_role(pl_store_conn *c, const pl_uuid *conv,
                               const pl_uuid *user, int *role);
/* Adds users with role; existing members keep their row (and their role
 * unless role is ADMIN, which promotes). *added = how many were new.
 * One transaction. */
pl_status pl_store_members_add(pl_store_conn *c, const pl_uuid *conv,
                               const pl_uuid *users, size_t n, int role,
                               int64_t now_ms, size_t *added);
/* PL_ERR_NOTFOUND if not a member. */
pl_status pl_store_member_remove(pl_store_conn *c, const pl_uuid *conv,
                                 const pl_uuid *user);
/* Members ordered by user id, strictly after `after` (NULL: from the
 * start), at most limit; *out malloc'd. */
pl_status pl_store_members_page(pl_store_conn *c, const pl_uuid *conv,
                                const pl_uuid *after, size_t limit,
                                pl_member **out, size_t *n);
pl_status pl_store_member_count(pl_store_conn *c, const pl_uuid *conv,
                                int64_t *count);

/* --- messages ------------------------------------------------------- */

/* Highest stored seq of the conversation (0 if none). */
pl_status pl_store_conv_last_seq(pl_store_conn *c, const pl_uuid *conv,
                                 int64_t *last_seq);
/* The message the sender stored with client_msg_id in conv, for
 * de-duplication of retries. PL_ERR_NOTFOUND if none. */
pl_status pl_store_msg_by_client_id(pl_store_conn *c, const pl_uuid *conv,
                                    const pl_uuid *sender,
                                    const char *client_msg_id, pl_msg *out);
/* Appends msgs (seq already assigned by the messaging role) and applies
 * offs (forward-only) in ONE transaction: all or nothing. A duplicate
 * (conv, seq) or (conv, sender, client_msg_id) fails the whole batch with
 * PL_ERR_CONFLICT - the fence against two writers for one conversation. */
pl_status pl_store_append(pl_store_conn *c, const pl_msg *msgs, size_t nmsgs,
                          const pl_read_offset *offs, size_t noffs);
/* Messages of conv in ascending seq order:
 *   after_seq >= 0: seq > after_seq, the first `limit`;
 *   before_seq > 0 (after_seq < 0): seq < before_seq, the last `limit`
 *   (still returned ascending).
 * *has_more: more rows exist beyond the page in the direction of travel. */
pl_status pl_store_msgs_range(pl_store_conn *c, const pl_uuid *conv,
                              int64_t after_seq, int64_t before_seq,
                              size_t limit, pl_msg **out, size_t *n,
                              bool *has_more);
/* Applies forward-only read offsets in one transaction. */
pl_status pl_store_read_offsets(pl_store_conn *c, const pl_read_offset *offs,
                                size_t n);

/* The user's read offset in conv (0 if none recorded). */
pl_status pl_store_read_offset_get(pl_store_conn *c, const pl_uuid *conv,
                                   const pl_uuid *user, int64_t *seq);

void pl_msg_clear(pl_msg *m);                  /* frees m->content */
void pl_msg_list_free(pl_msg *msgs, size_t n); /* clears each, frees array */

#endif
