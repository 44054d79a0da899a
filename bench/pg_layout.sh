#!/usr/bin/env bash
# bench/pg_layout.sh - where the time of a PostgreSQL group commit goes.
#
# Inserts batches of 1,000 messages, one per conversation of 1,000 (the
# interleaved worst case), each batch one autocommit statement with its
# rows generated on the server, into four layouts of the messages table,
# then times the per-batch UPDATE of 1,000 conversations' last_seq. Prints
# ms per batch (mean of BATCHES) and rows/s. docs/PERFORMANCE.md quotes it.
#
#   scripts/infra/postgres.sh up /tmp/pg && . /tmp/pg/postgres/env
#   PARLEY_PG_DSN="$PARLEY_PG_DSN" bench/pg_layout.sh
#
# Works in a schema of its own (parley_layout), dropped at the end.
set -euo pipefail

DSN=${PARLEY_PG_DSN:?set PARLEY_PG_DSN (see scripts/infra/postgres.sh)}
BATCHES=${BATCHES:-60}
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DSN")

"${PSQL[@]}" <<'EOF'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS parley_layout CASCADE;
CREATE SCHEMA parley_layout;
SET search_path = parley_layout;
CREATE TABLE convs (id uuid PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0,
                    last_ms bigint) WITH (fillfactor = 70);
INSERT INTO convs SELECT gen_random_uuid() FROM generate_series(1, 1000);
CREATE TABLE c AS SELECT row_number() OVER () - 1 AS i, id FROM convs;
CREATE TABLE m_full (conv_id uuid NOT NULL, seq bigint NOT NULL,
    msg_id uuid NOT NULL, sender_id uuid NOT NULL, cmid text NOT NULL,
    content bytea NOT NULL, ms bigint NOT NULL,
    PRIMARY KEY (conv_id, seq), UNIQUE (conv_id, sender_id, cmid));
CREATE TABLE m_heap_only (LIKE m_full);
CREATE TABLE m_seq_pk (LIKE m_full);
ALTER TABLE m_seq_pk ADD PRIMARY KEY (conv_id, seq);
CREATE SEQUENCE batch_no;
CREATE FUNCTION batch(tbl text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE k bigint := nextval('batch_no');
BEGIN
  EXECUTE format('INSERT INTO %I SELECT c.id, $1, gen_random_uuid(), c.id,'
                 ' ''m'' || $1, convert_to(repeat(''x'', 100), ''UTF8''), 0'
                 ' FROM c', tbl) USING k;
END $$;
EOF

# mean ms of the statements read on stdin (psql \timing)
timed() {
    "${PSQL[@]}" -o /dev/null -c '\timing on' -f - 2>&1 |
        grep -o 'Time: [0-9.]*' | awk '{s += $2; n++} END {printf "%.1f", s / n}'
}

for t in m_heap_only m_seq_pk m_full; do
    ms=$( (echo "SET search_path = parley_layout;"
           for _ in $(seq 1 "$BATCHES"); do echo "SELECT batch('$t');"; done) | timed)
    awk -v t="$t" -v ms="$ms" 'BEGIN {
        printf "insert 1000 interleaved rows into %-12s %6s ms/batch %8.0f rows/s\n",
               t, ms, 1000000 / ms }'
done
ms=$( (echo "SET search_path = parley_layout;"
       for i in $(seq 1 "$BATCHES"); do
           echo "UPDATE convs SET last_seq = last_seq + 1, last_ms = $i;"
       done) | timed)
printf "update last_seq of 1000 conversations   %6s ms/batch\n" "$ms"
"${PSQL[@]}" -c "SET client_min_messages = warning" -c "DROP SCHEMA parley_layout CASCADE"
