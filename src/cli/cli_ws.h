/* cli_ws.h - a small blocking WebSocket client (RFC 6455) over a plain TCP
 * socket, for `parley listen`. Only ws:// (http:// base URLs).
 *
 * Frames to the server are masked with a fresh random mask each. Pings
 * are answered inside cli_ws_recv; a close frame is answered with the
 * same code and ends the connection. */
#ifndef PL_CLI_WS_H
#define PL_CLI_WS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define CLI_WS_ERR_MAX 256

typedef struct cli_ws {
    int fd;            /* -1 when closed */
    uint8_t *buf;      /* owned: bytes received, not yet consumed */
    size_t start, len, cap; /* unconsumed bytes are buf[start..len) */
    uint8_t *msg;      /* owned: a fragmented message being assembled */
    size_t msg_len;
    int in_msg;        /* a fragmented message is in progress */
    int http_status;   /* status of the upgrade response (101 on success) */
    int close_code;    /* peer's close code; 1006 if the socket just ended */
    int close_sent;
    char err[CLI_WS_ERR_MAX]; /* why connect/recv failed */
} cli_ws;

/* Connects to base_url (e.g. "http://127.0.0.1:8080") + "/v1/ws" with the
 * bearer token and completes the upgrade handshake within timeout_ms.
 * PL_OK; PL_ERR_UNAUTH when the server answered 401; PL_ERR_IO for network
 * trouble and other statuses (ws->err, ws->http_status say which);
 * PL_ERR_INVALID for an unusable URL. ws must be released with
 * cli_ws_free either way. */
pl_status cli_ws_connect(cli_ws *ws, const char *base_url, const char *token,
                         int timeout_ms);

/* Sends one text frame. PL_OK or PL_ERR_IO. */
pl_status cli_ws_send_text(cli_ws *ws, const char *data, size_t len);

/* Waits up to timeout_ms for the next data message.
 *   PL_OK: the payload is in *data and *len, valid until the next call.
 *   PL_AGAIN: timeout.
 *   PL_DONE: the connection ended (ws->close_code).
 *   PL_ERR_PROTO, PL_ERR_IO: the connection failed (ws->err) and has been
 *   closed. */
pl_status cli_ws_recv(cli_ws *ws, int timeout_ms, const char **data,
                      size_t *len);

/* Sends a close frame with code (if none was sent yet) and closes. */
void cli_ws_close(cli_ws *ws, int code);
/* Closes the socket without a handshake and frees the buffers. */
void cli_ws_free(cli_ws *ws);

/* Splits an http://HOST[:PORT][/PREFIX] URL. host gets brackets removed
 * from IPv6 literals. 0 or -1 (unsupported scheme, overlong parts). */
int cli_ws_parse_url(const char *url, char *host, size_t hostcap, char *port,
                     size_t portcap, char *prefix, size_t prefixcap);

#endif
