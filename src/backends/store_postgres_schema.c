/* store_postgres_schema.c - the schema of the PostgreSQL store, its
 * versioned migrations and the SQL text of every prepared statement.
 *
 * Tables follow the spec (users, conversations, conversation_members,
 * user_conversation_state, messages) keyed by the API's UUIDs (type uuid:
 * 16 bytes, compared like memcmp, so members pages come back in
 * pl_uuid_cmp order).
 *
 * The fence of the cluster design is two constraints on messages:
 * PRIMARY KEY (conv_id, seq) and UNIQUE (conv_id, sender_id,
 * client_msg_id). Two writers that believe they own one conversation
 * cannot both store a seq, and a retried send cannot be stored twice: the
 * loser's whole batch fails with SQLSTATE 23505 (PL_ERR_CONFLICT).
 *
 * Denormalised counters, kept in the same transaction as the rows they
 * summarise, so reads never scan: conversations.last_seq/last_msg_ms
 * (append) serve conv_last_seq and the "most recently active first" order
 * of conv_list without touching messages; conversations.member_count
 * (members_add/remove) makes member_count O(1) instead of O(members).
 *
 * messages has no foreign keys: a foreign-key check is a per-row trigger
 * that locks the parent row (FOR KEY SHARE), which for a batch of 1000
 * messages is 1000 extra index probes and row locks on hot parents.
 * Instead the append statement checks that every conversation and sender
 * exists (parley_require) in the same statement. */
#include <stdio.h>
#include <stdlib.h>

#include "store_postgres_int.h"

/* Migration i takes the schema from version i to i + 1. Append only:
 * never edit a migration that has shipped. */
static const char *const migrations[] = {
    /* parley_require(ok): raises P0002 (no_data_found -> PL_ERR_NOTFOUND)
     * unless ok, aborting the statement that calls it. */
    "CREATE FUNCTION parley_require(ok boolean) RETURNS boolean"
    " LANGUAGE plpgsql AS $$ BEGIN"
    "  IF ok IS NOT TRUE THEN"
    "   RAISE EXCEPTION 'parley: a referenced row does not exist'"
    "    USING ERRCODE = 'P0002';"
    "  END IF;"
    "  RETURN true;"
    " END $$;"
    "CREATE TABLE users ("
    " id uuid PRIMARY KEY,"
    " username text NOT NULL,"
    " pw_hash text NOT NULL,"
    " created_ms bigint NOT NULL);"
    /* Case-insensitive uniqueness; lookups use the same expression. */
    "CREATE UNIQUE INDEX users_username_lower ON users (lower(username));"
    "CREATE TABLE conversations ("
    " id uuid PRIMARY KEY,"
    " rid bigint GENERATED ALWAYS AS IDENTITY," /* creation order */
    " type smallint NOT NULL CHECK (type IN (1, 2)),"
    " name text NOT NULL DEFAULT '',"
    /* A direct conversation's pair, lo < hi (uuid order); NULL for groups,
     * and NULLs never collide: one direct conversation per pair. */
    " direct_lo uuid,"
    " direct_hi uuid,"
    " created_ms bigint NOT NULL,"
    " last_seq bigint NOT NULL DEFAULT 0,"
    " last_msg_ms bigint," /* created_ms of the message last_seq */
    " member_count integer NOT NULL DEFAULT 0,"
    " UNIQUE (direct_lo, direct_hi))"
    /* Every append rewrites its conversations' rows: room on the page
     * keeps those updates HOT (no index entries for the new versions). */
    " WITH (fillfactor = 70);"
    "CREATE TABLE conversation_members ("
    " conv_id uuid NOT NULL REFERENCES conversations (id),"
    " user_id uuid NOT NULL REFERENCES users (id),"
    " role smallint NOT NULL CHECK (role IN (1, 2)),"
    " joined_ms bigint NOT NULL,"
    " PRIMARY KEY (conv_id, user_id));"
    "CREATE INDEX members_by_user ON conversation_members (user_id, conv_id);"
    "CREATE TABLE user_conversation_state ("
    " conv_id uuid NOT NULL REFERENCES conversations (id),"
    " user_id uuid NOT NULL REFERENCES users (id),"
    " last_read_seq bigint NOT NULL DEFAULT 0,"
    " last_seen_ms bigint,"
    " PRIMARY KEY (conv_id, user_id))"
    " WITH (fillfactor = 70);"
    "CREATE TABLE messages ("
    " conv_id uuid NOT NULL,"
    " seq bigint NOT NULL CHECK (seq > 0),"
    " msg_id uuid NOT NULL,"
    " sender_id uuid NOT NULL,"
    " client_msg_id text NOT NULL,"
    " content bytea NOT NULL," /* any bytes, NUL included */
    " created_ms bigint NOT NULL,"
    " PRIMARY KEY (conv_id, seq),"
    " UNIQUE (conv_id, sender_id, client_msg_id));",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int pl_pg_schema_version(void)
{
    return NMIGRATIONS;
}

static pl_status exec(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    pl_status rc = pl_pg_result_status(r);

    PQclear(r);
    return rc;
}

static pl_status current_version(PGconn *pg, int *version)
{
    PGresult *r = PQexec(pg, "SELECT coalesce(max(version), 0)::int4"
                             " FROM schema_migrations");
    pl_status rc = pl_pg_result_status(r);

    if (rc == PL_OK && PQntuples(r) == 1)
        *version = atoi(PQgetvalue(r, 0, 0));
    else if (rc == PL_OK)
        rc = PL_ERR_IO;
    PQclear(r);
    return rc;
}

static pl_status apply_from(PGconn *pg, int from)
{
    char sql[128];
    pl_status rc = PL_OK;

    for (int i = from; rc == PL_OK && i < NMIGRATIONS; i++) {
        rc = exec(pg, migrations[i]);
        /* Our own integer: no parameter needed. */
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations (version, applied_at)"
                 " VALUES (%d, now())",
                 i + 1);
        if (rc == PL_OK)
            rc = exec(pg, sql);
    }
    return rc;
}

pl_status pl_pg_migrate(PGconn *pg)
{
    int version = 0;
    pl_status rc = exec(pg, "BEGIN");

    /* The lock is per schema (tests give each server its own) and is
     * released by COMMIT/ROLLBACK; a second parleyd waits here, then finds
     * the migrations applied. */
    if (rc == PL_OK)
        rc = exec(pg, "SELECT pg_advisory_xact_lock(hashtext("
                      "'parley.migrate.' || coalesce(current_schema(), '')))");
    if (rc == PL_OK)
        rc = exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version integer PRIMARY KEY,"
                      " applied_at timestamptz NOT NULL)");
    if (rc == PL_OK)
        rc = current_version(pg, &version);
    if (rc == PL_OK && version > NMIGRATIONS)
        rc = PL_ERR_INVALID; /* written by a newer parley: refuse */
    if (rc == PL_OK && version < NMIGRATIONS)
        rc = apply_from(pg, version);
    if (rc == PL_OK)
        rc = exec(pg, "COMMIT");
    if (rc != PL_OK && PQtransactionStatus(pg) != PQTRANS_IDLE)
        exec(pg, "ROLLBACK");
    return rc;
}

/* The conversation columns read by read_conv() in store_postgres_conv.c. */
#define CONV_COLS "id, type, name, created_ms, last_seq, member_count"

/* The message columns read by read_msg() in store_postgres_msgs.c. */
#define MSG_COLS "seq, msg_id, sender_id, client_msg_id, content, created_ms"

/* A page of messages of conversation $1 (bound $2, LIMIT $3), as one row
 * with NULLs when there is none and no row when the conversation does not
 * exist; ascending seq whichever way the page was cut. */
#define RANGE(cond, dir)                                                       \
    "SELECT p.seq, p.msg_id, p.sender_id, p.client_msg_id, p.content,"         \
    " p.created_ms FROM conversations c LEFT JOIN LATERAL ("                   \
    " SELECT * FROM messages m WHERE m.conv_id = c.id AND m.seq " cond         \
    " $2::int8 ORDER BY m.seq " dir " LIMIT $3::int8) p ON true"               \
    " WHERE c.id = $1::uuid ORDER BY p.seq"

static const char *const sql_text[PG__COUNT] = {
    [PG_USERS_INSERT] =
        "INSERT INTO users (id, username, pw_hash, created_ms)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[],"
        " $4::int8[])",
    [PG_USER_BY_NAME] = "SELECT id, username, pw_hash, created_ms FROM users"
                        " WHERE lower(username) = lower($1::text)",
    [PG_USER_BY_ID] = "SELECT id, username, pw_hash, created_ms FROM users"
                      " WHERE id = $1::uuid",
    [PG_USERS_EXIST] =
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = t.x)"
        " FROM unnest($1::uuid[]) WITH ORDINALITY AS t(x, i) ORDER BY t.i",
    /* $1 id, $2 lo, $3 hi, $4 created_ms. Inserts unless the pair has
     * one (or a user is missing); answers (users found, rows inserted). */
    [PG_DIRECT_CREATE] =
        "WITH u AS (SELECT count(*) AS n FROM users"
        "   WHERE id IN ($2::uuid, $3::uuid)),"
        " c AS (INSERT INTO conversations (id, type, name, direct_lo,"
        "   direct_hi, created_ms, member_count)"
        "   SELECT $1::uuid, 1, '', $2::uuid, $3::uuid, $4::int8, 2"
        "   FROM u WHERE u.n = 2"
        "   ON CONFLICT (direct_lo, direct_hi) DO NOTHING RETURNING id),"
        " m AS (INSERT INTO conversation_members (conv_id, user_id, role,"
        "   joined_ms)"
        "   SELECT c.id, x.id, 1, $4::int8 FROM c,"
        "   (VALUES ($2::uuid), ($3::uuid)) AS x(id))"
        " SELECT (SELECT n FROM u)::int4, (SELECT count(*) FROM c)::int4",
    [PG_CONV_BY_PAIR] = "SELECT " CONV_COLS " FROM conversations"
                        " WHERE direct_lo = $1::uuid AND direct_hi = $2::uuid",
    /* $1 id, $2 name, $3 created_ms, $4 creator, $5 members. The creator
     * is ADMIN; listed members (minus the creator, duplicates once) are
     * MEMBER; unknown users fail the foreign key (PL_ERR_NOTFOUND). */
    [PG_GROUP_CREATE] =
        "WITH mem AS (SELECT DISTINCT x AS id FROM unnest($5::uuid[]) AS x"
        "   WHERE x <> $4::uuid),"
        " c AS (INSERT INTO conversations (id, type, name, created_ms,"
        "   member_count)"
        "   VALUES ($1::uuid, 2, $2::text, $3::int8,"
        "   1 + (SELECT count(*) FROM mem)) RETURNING id),"
        " m AS (INSERT INTO conversation_members (conv_id, user_id, role,"
        "   joined_ms)"
        "   SELECT $1::uuid, $4::uuid, 2, $3::int8"
        "   UNION ALL SELECT $1::uuid, id, 1, $3::int8 FROM mem)"
        " SELECT count(*)::int4 FROM c",
    [PG_CONV_GET] = "SELECT " CONV_COLS " FROM conversations"
                    " WHERE id = $1::uuid",
    /* One row with NULLs if the user has none, no row if no such user. */
    [PG_CONV_LIST] =
        "SELECT x.id, x.type, x.name, x.created_ms, x.last_seq,"
        " x.last_read_seq, x.role, x.member_count"
        " FROM users u LEFT JOIN LATERAL ("
        "  SELECT c.id, c.type, c.name, c.created_ms, c.last_seq,"
        "  coalesce(s.last_read_seq, 0) AS last_read_seq, m.role,"
        "  c.member_count, coalesce(c.last_msg_ms, c.created_ms) AS activity,"
        "  c.rid"
        "  FROM conversation_members m"
        "  JOIN conversations c ON c.id = m.conv_id"
        "  LEFT JOIN user_conversation_state s"
        "   ON s.conv_id = m.conv_id AND s.user_id = m.user_id"
        "  WHERE m.user_id = u.id"
        "  ORDER BY activity DESC, c.rid DESC LIMIT $2::int8) x ON true"
        " WHERE u.id = $1::uuid"
        " ORDER BY x.activity DESC, x.rid DESC",
    [PG_CONV_IDS] = "SELECT m.conv_id FROM users u"
                    " LEFT JOIN conversation_members m ON m.user_id = u.id"
                    " WHERE u.id = $1::uuid",
    [PG_MEM_ROLE] = "SELECT role FROM conversation_members"
                    " WHERE conv_id = $1::uuid AND user_id = $2::uuid",
    /* $1 conv, $2 users, $3 role, $4 joined_ms. New rows count into
     * member_count; with role ADMIN existing members are promoted (the
     * UPDATE does not see the rows inserted by the same statement).
     * Answers the number of new members. */
    [PG_MEM_ADD] =
        "WITH new AS (INSERT INTO conversation_members (conv_id, user_id,"
        "   role, joined_ms)"
        "   SELECT DISTINCT $1::uuid, x, $3::int4, $4::int8"
        "   FROM unnest($2::uuid[]) AS x"
        "   ON CONFLICT (conv_id, user_id) DO NOTHING RETURNING 1),"
        " pro AS (UPDATE conversation_members SET role = 2"
        "   WHERE $3::int4 = 2 AND conv_id = $1::uuid"
        "   AND user_id = ANY ($2::uuid[]) AND role <> 2),"
        " cnt AS (UPDATE conversations"
        "   SET member_count = member_count + (SELECT count(*) FROM new)"
        "   WHERE id = $1::uuid RETURNING 1)"
        " SELECT parley_require((SELECT count(*) FROM cnt) = 1),"
        " (SELECT count(*) FROM new)::int4",
    /* Removes the membership and its read state; answers 1 or 0. */
    [PG_MEM_REMOVE] =
        "WITH d AS (DELETE FROM conversation_members"
        "   WHERE conv_id = $1::uuid AND user_id = $2::uuid RETURNING 1),"
        " s AS (DELETE FROM user_conversation_state"
        "   WHERE conv_id = $1::uuid AND user_id = $2::uuid"
        "   AND EXISTS (SELECT 1 FROM d)),"
        " c AS (UPDATE conversations SET member_count = member_count - 1"
        "   WHERE id = $1::uuid AND EXISTS (SELECT 1 FROM d))"
        " SELECT count(*)::int4 FROM d",
    /* $1 conv, $2 cursor (the nil uuid: from the start), $3 limit. */
    [PG_MEM_PAGE] =
        "SELECT p.user_id, p.username, p.role, p.joined_ms, p.last_read_seq"
        " FROM conversations c LEFT JOIN LATERAL ("
        "  SELECT m.user_id, u.username, m.role, m.joined_ms,"
        "  coalesce(s.last_read_seq, 0) AS last_read_seq"
        "  FROM conversation_members m JOIN users u ON u.id = m.user_id"
        "  LEFT JOIN user_conversation_state s"
        "   ON s.conv_id = m.conv_id AND s.user_id = m.user_id"
        "  WHERE m.conv_id = c.id AND m.user_id > $2::uuid"
        "  ORDER BY m.user_id LIMIT $3::int8) p ON true"
        " WHERE c.id = $1::uuid ORDER BY p.user_id",
    [PG_MEM_COUNT] = "SELECT member_count FROM conversations"
                     " WHERE id = $1::uuid",
    [PG_LAST_SEQ] = "SELECT last_seq FROM conversations WHERE id = $1::uuid",
    [PG_MSG_BY_CMID] = "SELECT " MSG_COLS " FROM messages"
                       " WHERE conv_id = $1::uuid AND sender_id = $2::uuid"
                       " AND client_msg_id = $3::text",
    /* The group commit: messages ($1..$7, one array per column) and read
     * offsets ($8..$10) in one statement, hence one transaction and one
     * round trip. Each touched conversation's last_seq/last_msg_ms moves
     * to its highest new seq (GREATEST: never back); every conversation
     * and sender must exist. Offsets are folded per (conv, user) to the
     * highest (ON CONFLICT cannot update a row twice in one statement)
     * and only ever move forward. */
    [PG_APPEND] =
        "WITH m AS (SELECT * FROM unnest($1::uuid[], $2::int8[], $3::uuid[],"
        "   $4::uuid[], $5::text[], $6::bytea[], $7::int8[])"
        "   AS t(conv_id, seq, msg_id, sender_id, client_msg_id, content,"
        "   created_ms)),"
        " ins AS (INSERT INTO messages (conv_id, seq, msg_id, sender_id,"
        "   client_msg_id, content, created_ms) SELECT * FROM m),"
        " tip AS (SELECT DISTINCT ON (conv_id) conv_id, seq, created_ms"
        "   FROM m ORDER BY conv_id, seq DESC),"
        " cv AS (UPDATE conversations c"
        "   SET last_seq = greatest(c.last_seq, tip.seq),"
        "   last_msg_ms = CASE WHEN tip.seq > c.last_seq"
        "   THEN tip.created_ms ELSE c.last_msg_ms END"
        "   FROM tip WHERE c.id = tip.conv_id RETURNING 1),"
        " o AS (SELECT conv_id, user_id, max(seq) AS seq"
        "   FROM unnest($8::uuid[], $9::uuid[], $10::int8[])"
        "   AS t(conv_id, user_id, seq) GROUP BY conv_id, user_id),"
        " st AS (INSERT INTO user_conversation_state AS s (conv_id, user_id,"
        "   last_read_seq) SELECT conv_id, user_id, seq FROM o"
        "   ON CONFLICT (conv_id, user_id) DO UPDATE"
        "   SET last_read_seq = excluded.last_read_seq"
        "   WHERE excluded.last_read_seq > s.last_read_seq)"
        " SELECT parley_require("
        "  (SELECT count(*) FROM cv) = (SELECT count(*) FROM tip)"
        "  AND (SELECT count(*) FROM users"
        "   WHERE id IN (SELECT sender_id FROM m))"
        "  = (SELECT count(DISTINCT sender_id) FROM m))",
    [PG_RANGE_AFTER] = RANGE(">", "ASC"),
    [PG_RANGE_BEFORE] = RANGE("<", "DESC"),
    /* No row if the conversation or the user does not exist. */
    [PG_OFFSET_GET] =
        "SELECT coalesce((SELECT last_read_seq FROM user_conversation_state"
        "  WHERE conv_id = $1::uuid AND user_id = $2::uuid), 0)"
        " FROM conversations c, users u"
        " WHERE c.id = $1::uuid AND u.id = $2::uuid",
};

const char *pl_pg_sql(int i)
{
    return (i >= 0 && i < PG__COUNT) ? sql_text[i] : NULL;
}
