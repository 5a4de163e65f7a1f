/*
 * evhttp_server: a small HTTP server on libevent's evhttp, for client interop tests.
 *
 *   evhttp_server [-t MILLISECONDS]
 *
 * Listens on 127.0.0.1, on a port the kernel picks, prints "port N" on stdout
 * (flushed), and serves until its stdin closes. -t sets evhttp's timeout
 * (evhttp_set_timeout_tv: how long an idle keep-alive connection is kept).
 * Routes:
 *
 *   /hello       200 "Hello, World!" (text/plain)
 *   /echo        200 with the request body; X-Method, X-Length (the request's
 *                Content-Length or "-"), X-TE (its Transfer-Encoding or "-")
 *   /peer        200 "host:port" of the client's side of the connection
 *   /headers     200, one "Name: value" line per request header
 *   /chunked?n=N a chunked reply of N (default 3) chunks of 16 KiB, byte i of
 *                chunk k being (k + i) % 251, through evhttp_send_reply_start /
 *                _chunk / _end
 *   /close       200 "bye" with "Connection: close"
 *   /redirect    302 to /hello
 *   /slow        200 "slow" after 200 ms
 *   anything else 404 (evhttp_send_error)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#define CHUNK 16384

static struct event_base *base;

static const char *
header_or_dash(struct evhttp_request *req, const char *name)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
	return v ? v : "-";
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void
on_echo(struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *method;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET: method = "GET"; break;
	case EVHTTP_REQ_POST: method = "POST"; break;
	case EVHTTP_REQ_HEAD: method = "HEAD"; break;
	case EVHTTP_REQ_PUT: method = "PUT"; break;
	case EVHTTP_REQ_DELETE: method = "DELETE"; break;
	case EVHTTP_REQ_OPTIONS: method = "OPTIONS"; break;
	case EVHTTP_REQ_PATCH: method = "PATCH"; break;
	default: method = "OTHER"; break;
	}
	evhttp_add_header(out, "X-Method", method);
	evhttp_add_header(out, "X-Length", header_or_dash(req, "Content-Length"));
	evhttp_add_header(out, "X-TE", header_or_dash(req, "Transfer-Encoding"));
	evhttp_add_header(out, "Content-Type", "application/octet-stream");
	evhttp_send_reply(req, 200, "OK", evhttp_request_get_input_buffer(req));
}

static void
on_peer(struct evhttp_request *req)
{
	char *addr;
	ev_uint16_t port;
	char buf[128];
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
	snprintf(buf, sizeof(buf), "%s:%u", addr, (unsigned)port);
	reply_text(req, 200, "OK", buf);
}

static void
on_headers(struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyval *kv;
	for (kv = evhttp_request_get_input_headers(req)->tqh_first; kv; kv = kv->next.tqe_next)
		evbuffer_add_printf(out, "%s: %s\n", kv->key, kv->value);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
on_chunked(struct evhttp_request *req, const char *query)
{
	int n = 3, k, i;
	unsigned char piece[CHUNK];
	struct evbuffer *buf = evbuffer_new();
	if (query && strncmp(query, "n=", 2) == 0)
		n = atoi(query + 2);
	evhttp_send_reply_start(req, 200, "OK");
	for (k = 0; k < n; k++) {
		for (i = 0; i < CHUNK; i++)
			piece[i] = (unsigned char)((k + i) % 251);
		evbuffer_add(buf, piece, CHUNK);
		evhttp_send_reply_chunk(req, buf);
	}
	evhttp_send_reply_end(req);
	evbuffer_free(buf);
}

static void
slow_reply(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reply_text(arg, 200, "OK", "slow");
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	struct timeval slow = {0, 200000};
	(void)arg;

	if (path == NULL)
		path = "/";
	if (strcmp(path, "/hello") == 0) {
		reply_text(req, 200, "OK", "Hello, World!");
	} else if (strcmp(path, "/echo") == 0) {
		on_echo(req);
	} else if (strcmp(path, "/peer") == 0) {
		on_peer(req);
	} else if (strcmp(path, "/headers") == 0) {
		on_headers(req);
	} else if (strcmp(path, "/chunked") == 0) {
		on_chunked(req, query);
	} else if (strcmp(path, "/close") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		reply_text(req, 200, "OK", "bye");
	} else if (strcmp(path, "/redirect") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Location", "/hello");
		reply_text(req, 302, "Found", "moved");
	} else if (strcmp(path, "/slow") == 0) {
		event_base_once(base, -1, EV_TIMEOUT, slow_reply, req, &slow);
	} else {
		evhttp_send_error(req, 404, NULL);
	}
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];
	(void)what;
	(void)arg;
	if (read(fd, buf, sizeof(buf)) <= 0)
		event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stdin_ev;
	struct sockaddr_storage ss;
	ev_socklen_t len = sizeof(ss);

	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, on_request, NULL);
	if (argc == 3 && strcmp(argv[1], "-t") == 0) {
		long ms = atol(argv[2]);
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		evhttp_set_timeout_tv(http, &tv);
	} else if (argc != 1) {
		fprintf(stderr, "usage: evhttp_server [-t MILLISECONDS]\n");
		return 2;
	}
	bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (bound == NULL) {
		fprintf(stderr, "evhttp_server: cannot bind\n");
		return 1;
	}
	getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len);
	printf("port %u\n", (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);

	stdin_ev = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, NULL);
	event_add(stdin_ev, NULL);
	event_base_dispatch(base);

	event_free(stdin_ev);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
