/* store_postgres_wire.c - the binary encoding of statement parameters and
 * the decoding of binary result columns (PostgreSQL's "send"/"recv"
 * formats: integers big-endian, uuid as its 16 bytes, text and bytea raw,
 * arrays as a header followed by length-prefixed elements).
 *
 * Binary everywhere, not text: no escaping of message content (which may
 * hold any byte, NUL included, hence bytea), no formatting or parsing of
 * integers and uuids, and the array of a 1000-message batch is built with
 * a few memcpy per element. */
#include <stdlib.h>
#include <string.h>

#include "store_postgres_int.h"

/* --- the scratch buffer ------------------------------------------------- */

/* Bytes of scratch kept between calls; a bigger batch's buffer is freed
 * after it so one burst does not pin its memory forever. */
#define PARAMS_KEEP (1u << 20)

void pl_pg_params_reset(pl_pg_params *p)
{
    if (p->cap > PARAMS_KEEP) {
        free(p->buf);
        p->buf = NULL;
        p->cap = 0;
    }
    p->n = 0;
    p->used = 0;
    p->arr_start = SIZE_MAX;
    p->arr_count = 0;
    p->err = PL_OK;
}

void pl_pg_params_free(pl_pg_params *p)
{
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

/* Room for len more bytes; returns where they go, NULL on error. */
static char *reserve(pl_pg_params *p, size_t len)
{
    size_t ncap;
    char *nb;

    if (p->err != PL_OK)
        return NULL;
    if (len > (size_t)INT32_MAX - p->used) {
        p->err = PL_ERR_INVALID; /* a parameter is at most 1 GB anyway */
        return NULL;
    }
    if (!p->buf || p->used + len > p->cap) {
        ncap = p->cap ? p->cap : 4096;
        while (ncap < p->used + len)
            ncap *= 2;
        nb = realloc(p->buf, ncap);
        if (!nb) {
            p->err = PL_ERR_NOMEM;
            return NULL;
        }
        p->buf = nb;
        p->cap = ncap;
    }
    p->used += len;
    return p->buf + p->used - len;
}

static void put_u32(char *d, uint32_t v)
{
    d[0] = (char)(v >> 24);
    d[1] = (char)(v >> 16);
    d[2] = (char)(v >> 8);
    d[3] = (char)v;
}

static void put_u64(char *d, uint64_t v)
{
    put_u32(d, (uint32_t)(v >> 32));
    put_u32(d + 4, (uint32_t)v);
}

/* Opens parameter n at the current end of the buffer. */
static bool param_open(pl_pg_params *p)
{
    if (p->err != PL_OK)
        return false;
    if (p->n >= PG_MAX_PARAMS) {
        p->err = PL_ERR;
        return false;
    }
    p->off[p->n] = p->used;
    return true;
}

static void param_close(pl_pg_params *p)
{
    if (p->err == PL_OK) {
        p->len[p->n] = (int)(p->used - p->off[p->n]);
        p->n++;
    }
}

/* --- scalars ------------------------------------------------------------ */

static void put_scalar(pl_pg_params *p, const void *bytes, size_t len)
{
    char *d;

    if (!param_open(p))
        return;
    if ((d = reserve(p, len)) != NULL)
        memcpy(d, bytes, len);
    param_close(p);
}

void pl_pg_p_uuid(pl_pg_params *p, const pl_uuid *id)
{
    put_scalar(p, id->b, sizeof(id->b));
}

void pl_pg_p_i64(pl_pg_params *p, int64_t v)
{
    char b[8];

    put_u64(b, (uint64_t)v);
    put_scalar(p, b, sizeof(b));
}

void pl_pg_p_i32(pl_pg_params *p, int32_t v)
{
    char b[4];

    put_u32(b, (uint32_t)v);
    put_scalar(p, b, sizeof(b));
}

void pl_pg_p_str(pl_pg_params *p, const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len > max) {
        if (p->err == PL_OK)
            p->err = PL_ERR_INVALID;
        return;
    }
    put_scalar(p, s, len);
}

/* --- arrays --------------------------------------------------------------- */

void pl_pg_arr_begin(pl_pg_params *p, uint32_t oid, size_t count)
{
    char *d;
    bool empty = count == 0;

    if (!param_open(p))
        return;
    if (count > INT32_MAX) {
        p->err = PL_ERR_INVALID;
        return;
    }
    /* ndim, has-nulls flag, element type, then (size, lower bound) per
     * dimension; an empty array has no dimension. */
    d = reserve(p, empty ? 12 : 20);
    if (!d)
        return;
    put_u32(d, empty ? 0 : 1);
    put_u32(d + 4, 0);
    put_u32(d + 8, oid);
    if (!empty) {
        put_u32(d + 12, (uint32_t)count);
        put_u32(d + 16, 1);
    }
    p->arr_start = p->n;
    p->arr_count = count;
}

/* One element: its length, then its bytes. */
static void arr_put(pl_pg_params *p, const void *bytes, size_t len)
{
    char *d;

    if (p->arr_start != (size_t)p->n || p->arr_count == 0) {
        if (p->err == PL_OK)
            p->err = PL_ERR; /* more elements than announced */
        return;
    }
    if (len > INT32_MAX) {
        p->err = PL_ERR_INVALID;
        return;
    }
    d = reserve(p, 4 + len);
    if (!d)
        return;
    put_u32(d, (uint32_t)len);
    if (len)
        memcpy(d + 4, bytes, len);
    p->arr_count--;
}

void pl_pg_arr_uuid(pl_pg_params *p, const pl_uuid *id)
{
    arr_put(p, id->b, sizeof(id->b));
}

void pl_pg_arr_i64(pl_pg_params *p, int64_t v)
{
    char b[8];

    put_u64(b, (uint64_t)v);
    arr_put(p, b, sizeof(b));
}

void pl_pg_arr_bytes(pl_pg_params *p, const void *data, size_t len)
{
    arr_put(p, data, len);
}

void pl_pg_arr_str(pl_pg_params *p, const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len > max) {
        if (p->err == PL_OK)
            p->err = PL_ERR_INVALID;
        return;
    }
    arr_put(p, s, len);
}

void pl_pg_arr_end(pl_pg_params *p)
{
    if (p->err == PL_OK && (p->arr_start != (size_t)p->n || p->arr_count))
        p->err = PL_ERR; /* fewer elements than announced */
    p->arr_start = SIZE_MAX;
    param_close(p);
}

void pl_pg_params_resolve(const pl_pg_params *p, const char **vals, int *lens,
                          int *fmts)
{
    for (int i = 0; i < p->n; i++) {
        vals[i] = p->buf + p->off[i];
        lens[i] = p->len[i];
        fmts[i] = 1;
    }
}

/* --- result columns ------------------------------------------------------- */

pl_status pl_pg_get_uuid(const PGresult *r, int row, int col, pl_uuid *out)
{
    if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 16)
        return PL_ERR_IO;
    memcpy(out->b, PQgetvalue(r, row, col), 16);
    return PL_OK;
}

pl_status pl_pg_get_int(const PGresult *r, int row, int col, int64_t *out)
{
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col);
    uint64_t u = 0;

    if (PQgetisnull(r, row, col) || (len != 2 && len != 4 && len != 8))
        return PL_ERR_IO;
    for (int i = 0; i < len; i++)
        u = u << 8 | v[i];
    /* sign-extend the narrower types */
    if (len < 8 && (v[0] & 0x80))
        u |= ~(uint64_t)0 << (len * 8);
    *out = (int64_t)u;
    return PL_OK;
}

pl_status pl_pg_get_bool(const PGresult *r, int row, int col, bool *out)
{
    if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 1)
        return PL_ERR_IO;
    *out = PQgetvalue(r, row, col)[0] != 0;
    return PL_OK;
}

void pl_pg_get_str(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    size_t len = (size_t)PQgetlength(r, row, col);

    if (len >= cap)
        len = cap - 1;
    if (len)
        memcpy(dst, PQgetvalue(r, row, col), len);
    dst[len] = '\0';
}

pl_status pl_pg_get_blob(const PGresult *r, int row, int col, char **out,
                         size_t *len)
{
    size_t n = (size_t)PQgetlength(r, row, col);
    char *b = malloc(n + 1);

    if (!b)
        return PL_ERR_NOMEM;
    if (n)
        memcpy(b, PQgetvalue(r, row, col), n);
    b[n] = '\0';
    *out = b;
    *len = n;
    return PL_OK;
}
