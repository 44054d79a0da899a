/* store_sqlite_schema.c - the schema of the SQLite store, its migrations
 * and the SQL text of every prepared statement.
 *
 * Layout for throughput: messages live in a rowid table in arrival order,
 * so a group commit of messages interleaved over many conversations appends
 * to the end of one B-tree. The per-conversation order (msg_seq) and the
 * retry de-duplication (msg_dedupe) are WITHOUT ROWID tables filled from
 * the log in bulk by the merge (store_sqlite_msgs.c), which writes each
 * conversation's index page once per merge instead of once per commit.
 * Conversations and users are joined on integer rowids; UUIDs appear only
 * in the rows that own them (plus conversation_members.user_uuid,
 * denormalised so member pages walk an index in user-id order instead of
 * sorting the whole membership). */
#include <stdio.h>

#include "store_sqlite_int.h"

/* Migration i takes the schema from user_version i to i + 1. Append only:
 * never edit a migration that has shipped. */
static const char *const migrations[] = {
    "CREATE TABLE users("
    " id INTEGER PRIMARY KEY,"
    " uuid BLOB NOT NULL UNIQUE,"
    " username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " pw_hash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE conversations("
    " id INTEGER PRIMARY KEY,"
    " uuid BLOB NOT NULL UNIQUE,"
    " type INTEGER NOT NULL,"
    " name TEXT NOT NULL DEFAULT '',"
    " direct_key BLOB UNIQUE," /* sorted member uuids; NULL for groups */
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE conversation_members("
    " conv_id INTEGER NOT NULL REFERENCES conversations(id),"
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " user_uuid BLOB NOT NULL,"
    " role INTEGER NOT NULL,"
    " joined_ms INTEGER NOT NULL,"
    " PRIMARY KEY(conv_id, user_id)) WITHOUT ROWID;"
    "CREATE INDEX members_by_user ON conversation_members(user_id, conv_id);"
    "CREATE UNIQUE INDEX members_by_uuid"
    " ON conversation_members(conv_id, user_uuid);"
    "CREATE TABLE user_conversation_state("
    " conv_id INTEGER NOT NULL REFERENCES conversations(id),"
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " last_read_seq INTEGER NOT NULL DEFAULT 0,"
    " last_seen_ms INTEGER,"
    " PRIMARY KEY(conv_id, user_id)) WITHOUT ROWID;"
    /* No REFERENCES on the log: conv_id and sender_id come from rowid
     * lookups in the same transaction, and two parent probes per row
     * would cost a measurable share of the append path. */
    "CREATE TABLE messages("
    " id INTEGER PRIMARY KEY,"
    " conv_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " uuid BLOB NOT NULL,"
    " sender_id INTEGER NOT NULL,"
    " client_msg_id TEXT NOT NULL,"
    " content TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE msg_seq("
    " conv_id INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " msg_id INTEGER NOT NULL,"
    " PRIMARY KEY(conv_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE msg_dedupe("
    " conv_id INTEGER NOT NULL,"
    " sender_id INTEGER NOT NULL,"
    " client_msg_id TEXT NOT NULL,"
    " msg_id INTEGER NOT NULL,"
    " PRIMARY KEY(conv_id, sender_id, client_msg_id)) WITHOUT ROWID;"
    /* Log rows with id <= indexed_upto are in msg_seq and msg_dedupe. */
    "CREATE TABLE merge_state("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " indexed_upto INTEGER NOT NULL);"
    "INSERT INTO merge_state(id, indexed_upto) VALUES (1, 0);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static pl_status user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return pl_sq_status(rc);
}

static pl_status apply_from(sqlite3 *db, int from)
{
    char sql[64];

    for (int i = from; i < NMIGRATIONS; i++) {
        int rc = sqlite3_exec(db, migrations[i], NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return pl_sq_status(rc);
    }
    /* PRAGMA takes no parameters; the value is our own integer. */
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", NMIGRATIONS);
    return pl_sq_status(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

pl_status pl_sq_migrate(sqlite3 *db)
{
    int version = 0;
    pl_status rc;

    /* IMMEDIATE: two processes opening a fresh directory at once (parleyd
     * and `parley admin`) must not both run migration 0. */
    rc = pl_sq_status(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (rc != PL_OK)
        return rc;
    rc = user_version(db, &version);
    if (rc == PL_OK && version > NMIGRATIONS)
        rc = PL_ERR_INVALID; /* written by a newer parley: refuse */
    if (rc == PL_OK && version < NMIGRATIONS)
        rc = apply_from(db, version);
    if (rc == PL_OK)
        rc = pl_sq_status(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
    if (rc != PL_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The conversation columns read by read_conv() in store_sqlite_conv.c:
 * last_seq from the merged index only; the caller adds the tail. */
#define CONV_COLS                                                              \
    "c.uuid, c.type, c.name, c.created_ms,"                                    \
    " coalesce((SELECT max(seq) FROM msg_seq WHERE conv_id = c.id), 0),"       \
    " (SELECT count(*) FROM conversation_members WHERE conv_id = c.id),"       \
    " c.id"

/* The message columns read by read_msg() in store_sqlite_msgs.c. */
#define MSG_COLS                                                               \
    "m.seq, m.uuid, u.uuid, m.client_msg_id, m.content, m.created_ms"          \
    " FROM messages m JOIN users u ON u.id = m.sender_id"

static const char *const sql_text[SQ__COUNT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_USER_INSERT] = "INSERT INTO users(uuid, username, pw_hash,"
                       " created_ms) VALUES (?1, ?2, ?3, ?4)",
    [SQ_USER_BY_NAME] = "SELECT uuid, username, pw_hash, created_ms"
                        " FROM users WHERE username = ?1",
    [SQ_USER_BY_UUID] = "SELECT uuid, username, pw_hash, created_ms"
                        " FROM users WHERE uuid = ?1",
    [SQ_USER_ROWID] = "SELECT id FROM users WHERE uuid = ?1",
    [SQ_CONV_ROWID] = "SELECT id FROM conversations WHERE uuid = ?1",
    [SQ_CONV_INSERT] = "INSERT INTO conversations(uuid, type, name,"
                       " direct_key, created_ms)"
                       " VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_CONV_BY_UUID] =
        "SELECT " CONV_COLS " FROM conversations c WHERE c.uuid = ?1",
    [SQ_CONV_BY_DKEY] =
        "SELECT " CONV_COLS " FROM conversations c WHERE c.direct_key = ?1",
    /* Last activity: the newest merged message, found through msg_seq
     * and one rowid probe, else the creation time; the caller raises both
     * with the tail, re-sorts and cuts to the limit (hence no LIMIT).
     * member_count is a correlated count: O(members) per conversation. */
    [SQ_CONV_LIST] =
        "SELECT c.uuid, c.type, c.name, c.created_ms, coalesce(ls.seq, 0),"
        " coalesce(s.last_read_seq, 0), m.role,"
        " (SELECT count(*) FROM conversation_members WHERE conv_id = c.id),"
        " c.id, coalesce(lm.created_ms, c.created_ms)"
        " FROM conversation_members m"
        " JOIN conversations c ON c.id = m.conv_id"
        " LEFT JOIN msg_seq ls ON ls.conv_id = c.id AND ls.seq ="
        "   (SELECT max(seq) FROM msg_seq WHERE conv_id = c.id)"
        " LEFT JOIN messages lm ON lm.id = ls.msg_id"
        " LEFT JOIN user_conversation_state s"
        "   ON s.conv_id = m.conv_id AND s.user_id = m.user_id"
        " WHERE m.user_id = ?1",
    [SQ_CONV_IDS] = "SELECT c.uuid FROM conversation_members m"
                    " JOIN conversations c ON c.id = m.conv_id"
                    " WHERE m.user_id = ?1",
    [SQ_MEM_INSERT] = "INSERT OR IGNORE INTO conversation_members(conv_id,"
                      " user_id, user_uuid, role, joined_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_MEM_PROMOTE] = "UPDATE conversation_members SET role = ?3"
                       " WHERE conv_id = ?1 AND user_id = ?2",
    [SQ_MEM_ROLE] = "SELECT role FROM conversation_members"
                    " WHERE conv_id = ?1 AND user_id = ?2",
    [SQ_MEM_DELETE] = "DELETE FROM conversation_members"
                      " WHERE conv_id = ?1 AND user_id = ?2",
    [SQ_MEM_PAGE] = "SELECT m.user_uuid, u.username, m.role, m.joined_ms,"
                    " coalesce(s.last_read_seq, 0)"
                    " FROM conversation_members m INDEXED BY members_by_uuid"
                    " JOIN users u ON u.id = m.user_id"
                    " LEFT JOIN user_conversation_state s"
                    "   ON s.conv_id = m.conv_id AND s.user_id = m.user_id"
                    " WHERE m.conv_id = ?1 AND m.user_uuid > ?2"
                    " ORDER BY m.user_uuid LIMIT ?3",
    [SQ_MEM_COUNT] = "SELECT count(*) FROM conversation_members"
                     " WHERE conv_id = ?1",
    [SQ_STATE_DELETE] = "DELETE FROM user_conversation_state"
                        " WHERE conv_id = ?1 AND user_id = ?2",
    [SQ_OFFSET_UPSERT] = "INSERT INTO user_conversation_state(conv_id, user_id,"
                         " last_read_seq) VALUES (?1, ?2, ?3)"
                         " ON CONFLICT(conv_id, user_id) DO UPDATE"
                         " SET last_read_seq = excluded.last_read_seq"
                         " WHERE excluded.last_read_seq > last_read_seq",
    [SQ_OFFSET_GET] = "SELECT last_read_seq FROM user_conversation_state"
                      " WHERE conv_id = ?1 AND user_id = ?2",
    [SQ_MSG_INSERT] = "INSERT INTO messages(conv_id, seq, uuid, sender_id,"
                      " client_msg_id, content, created_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQ_MSG_BY_ROWID] = "SELECT " MSG_COLS " WHERE m.id = ?1",
    [SQ_READ_BEGIN] = "BEGIN",
    [SQ_TAIL_STATE] = "SELECT (SELECT indexed_upto FROM merge_state"
                      " WHERE id = 1), (SELECT coalesce(max(id), 0)"
                      " FROM messages)",
    [SQ_TAIL_SCAN] = "SELECT id, conv_id, seq, sender_id, client_msg_id,"
                     " created_ms FROM messages"
                     " WHERE id > ?1 AND id <= ?2 ORDER BY id",
    [SQ_IDX_HAS_SEQ] = "SELECT 1 FROM msg_seq"
                       " WHERE conv_id = ?1 AND seq = ?2",
    [SQ_IDX_CMID] = "SELECT msg_id FROM msg_dedupe WHERE conv_id = ?1"
                    " AND sender_id = ?2 AND client_msg_id = ?3",
    [SQ_IDX_LAST_SEQ] = "SELECT coalesce(max(seq), 0) FROM msg_seq"
                        " WHERE conv_id = ?1",
    [SQ_IDX_AFTER] = "SELECT seq, msg_id FROM msg_seq WHERE conv_id = ?1"
                     " AND seq > ?2 ORDER BY seq LIMIT ?3",
    [SQ_IDX_BEFORE] = "SELECT seq, msg_id FROM msg_seq WHERE conv_id = ?1"
                      " AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
    /* Sorted inserts: each index page is written once per merge. */
    [SQ_MERGE_SEQ] = "INSERT INTO msg_seq(conv_id, seq, msg_id)"
                     " SELECT conv_id, seq, id FROM messages"
                     " WHERE id > ?1 AND id <= ?2 ORDER BY conv_id, seq",
    [SQ_MERGE_DEDUPE] = "INSERT INTO msg_dedupe(conv_id, sender_id,"
                        " client_msg_id, msg_id)"
                        " SELECT conv_id, sender_id, client_msg_id, id"
                        " FROM messages WHERE id > ?1 AND id <= ?2"
                        " ORDER BY conv_id, sender_id, client_msg_id",
    [SQ_MERGE_MARK] = "UPDATE merge_state SET indexed_upto = ?1"
                      " WHERE id = 1",
};

const char *pl_sq_sql(int i)
{
    return (i >= 0 && i < SQ__COUNT) ? sql_text[i] : NULL;
}
