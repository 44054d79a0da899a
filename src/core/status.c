#include "status.h"

const char *pl_status_str(pl_status s)
{
    switch (s) {
    case PL_OK: return "ok";
    case PL_DONE: return "done";
    case PL_AGAIN: return "again";
    case PL_ERR: return "internal";
    case PL_ERR_NOMEM: return "out_of_memory";
    case PL_ERR_IO: return "io_error";
    case PL_ERR_INVALID: return "invalid_request";
    case PL_ERR_NOTFOUND: return "not_found";
    case PL_ERR_CONFLICT: return "conflict";
    case PL_ERR_FORBIDDEN: return "forbidden";
    case PL_ERR_UNAUTH: return "unauthorized";
    case PL_ERR_TOOLARGE: return "too_large";
    case PL_ERR_BUSY: return "overloaded";
    case PL_ERR_PROTO: return "protocol_error";
    }
    return "internal";
}

int pl_status_http(pl_status s)
{
    switch (s) {
    case PL_OK:
    case PL_DONE: return 200;
    case PL_ERR_INVALID:
    case PL_ERR_PROTO: return 400;
    case PL_ERR_UNAUTH: return 401;
    case PL_ERR_FORBIDDEN: return 403;
    case PL_ERR_NOTFOUND: return 404;
    case PL_ERR_CONFLICT: return 409;
    case PL_ERR_TOOLARGE: return 413;
    case PL_AGAIN:
    case PL_ERR_BUSY: return 503;
    default: return 500;
    }
}
