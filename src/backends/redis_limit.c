/* redis_limit.c - hiredis reader limits (see pl_redis_reader_limit in
 * redis.h). */
#include <pthread.h>

#include "redis.h"

/* hiredis 0.14's reader allocates an array for the element count a reply
 * announces before any element arrives: "*555555551\r\n" from a broken or
 * hostile peer is a 4.4 GB calloc (found by fuzz_redis). 1.x has
 * maxelements; here the reply-object functions are wrapped and arrays above
 * PL_REDIS_MAX_ELEMENTS are refused, which the reader reports as an error
 * (the connection is then dropped like any protocol error). */
static redisReplyObjectFunctions limited_fns;
static void *(*orig_create_array)(const redisReadTask *, int);
static pthread_once_t limited_once = PTHREAD_ONCE_INIT;

static void *create_array_limited(const redisReadTask *task, int elements)
{
    if (elements > PL_REDIS_MAX_ELEMENTS)
        return NULL;
    return orig_create_array(task, elements);
}

static redisReader *proto_reader; /* only to copy hiredis' default table */

static void limited_init(void)
{
    proto_reader = redisReaderCreate();
    if (!proto_reader || !proto_reader->fn)
        return;
    limited_fns = *proto_reader->fn;
    orig_create_array = limited_fns.createArray;
    limited_fns.createArray = create_array_limited;
    redisReaderFree(proto_reader);
    proto_reader = NULL;
}

void pl_redis_reader_limit(redisReader *rd)
{
    pthread_once(&limited_once, limited_init);
    if (rd && orig_create_array && rd->fn &&
        rd->fn->createArray == orig_create_array)
        rd->fn = &limited_fns;
}
