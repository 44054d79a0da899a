/* cli_http.h - the REST side of the CLI: one libcurl easy handle (so
 * consecutive requests reuse the keep-alive connection), JSON in and out.
 *
 * curl_global_init() must have been called (main does). */
#ifndef PL_CLI_HTTP_H
#define PL_CLI_HTTP_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "core/status.h"

typedef struct cli_http {
    CURL *curl;
    const char *base;  /* borrowed: base URL without trailing '/' */
    const char *token; /* borrowed: bearer token or NULL */
} cli_http;

typedef struct cli_resp {
    long status;     /* HTTP status; 0 when no response arrived */
    json_t *json;    /* owned: parsed body, NULL if empty or not JSON */
    char *body;      /* owned: raw body, NUL-terminated, NULL if empty */
    size_t body_len;
    char err[CURL_ERROR_SIZE]; /* transport error text when status == 0 */
} cli_resp;

pl_status cli_http_init(cli_http *h, const char *base, const char *token);
void cli_http_cleanup(cli_http *h);

/* METHOD base+path (path starts with '/', query already escaped) with an
 * optional JSON body (borrowed). PL_OK if a response arrived, whatever its
 * status; PL_ERR_IO on a transport failure (r->err says why). r is always
 * initialised and must be released with cli_resp_free. */
pl_status cli_http_do(cli_http *h, const char *method, const char *path,
                      const json_t *body, cli_resp *r);
void cli_resp_free(cli_resp *r);
/* 1 for a 2xx response. */
int cli_resp_ok(const cli_resp *r);
/* Prints why a request failed to stderr: "error: CODE: MESSAGE (HTTP N)"
 * from the server's error object, or the transport error. */
void cli_resp_report(const cli_resp *r);

/* Percent-escapes s for a URL path segment or query value. The result is
 * malloc'd (free()), NULL on allocation failure. */
char *cli_http_escape(const char *s);

/* Username of user_id via GET /v1/users/{id}, remembered in cache (a JSON
 * object used as a map, owned by the caller). Falls back to the id itself
 * when the lookup fails. The returned string lives as long as cache. */
const char *cli_user_name(cli_http *h, json_t *cache, const char *user_id);

#endif
