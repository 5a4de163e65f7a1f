/*
 * evhttp_hello.c - C libevent evhttp reference server for bench/http_server.py.
 *
 *   GET /      200, body "Hello, World!" (13 bytes), Content-Type: text/plain.
 *              Keep-alive is evhttp's own HTTP/1.1 default.
 *   GET /NAME  with -r DIR only: the regular file DIR/NAME, 200 with
 *              Content-Type: application/octet-stream, its bytes queued with
 *              evbuffer_add_file on a buffer flagged EVBUFFER_FLAG_DRAINS_TO_FD,
 *              so that libevent sends it with sendfile(2) rather than mmap.
 *              NAME may not contain '/' nor start with '.'.
 *   otherwise  404 (or 405 for a method other than GET/HEAD).
 *
 * One event_base, one thread, listening on 127.0.0.1:PORT.  Idle
 * connections are kept for IDLE_TIMEOUT seconds (evhttp_set_timeout), long
 * enough for the idle keep-alive memory test.  Prints nothing; exits on
 * SIGTERM/SIGINT (default actions), status 1 if it cannot listen.
 *
 * Usage: evhttp_hello -p PORT [-r DIR]
 *        evhttp_hello -V      (prints libevent's version)
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#define IDLE_TIMEOUT 300
#define MAX_PATH 4096

static const char HELLO[] = "Hello, World!";
static const char *root; /* -r DIR, or NULL */
static struct evbuffer *reply; /* reused: evhttp_send_reply drains it */
static struct evbuffer *file_reply; /* the same, flagged DRAINS_TO_FD */

static void send_hello(struct evhttp_request *req)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evbuffer_add(reply, HELLO, sizeof HELLO - 1);
	evhttp_send_reply(req, HTTP_OK, "OK", reply);
}

static void send_file(struct evhttp_request *req, const char *name)
{
	char path[MAX_PATH];
	struct stat st;
	int fd;

	if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0' ||
	    snprintf(path, sizeof path, "%s/%s", root, name) >= (int)sizeof path) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/octet-stream");
	/* The buffer owns fd from here on, and closes it when the bytes are sent. */
	if (evbuffer_add_file(file_reply, fd, 0, st.st_size) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, HTTP_OK, "OK", file_reply);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	(void)arg;

	if (path == NULL || path[0] != '/') {
		evhttp_send_error(req, HTTP_BADREQUEST, NULL);
	} else if (path[1] == '\0') {
		send_hello(req);
	} else if (root != NULL) {
		send_file(req, path + 1);
	} else {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
	}
}

int main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	int port = -1, opt;

	while ((opt = getopt(argc, argv, "p:r:V")) != -1) {
		if (opt == 'V') {
			printf("%s\n", event_get_version());
			return 0;
		}
		if (opt == 'p')
			port = atoi(optarg);
		else if (opt == 'r')
			root = optarg;
		else
			port = -1;
	}
	if (port <= 0 || port > 65535 || optind != argc) {
		fprintf(stderr, "usage: %s -p PORT [-r DIR] | -V\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a client gone mid-reply: EPIPE, not death */

	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	reply = evbuffer_new();
	file_reply = evbuffer_new();
	if (http == NULL || reply == NULL || file_reply == NULL) {
		fprintf(stderr, "evhttp_hello: out of memory\n");
		return 1;
	}
	/* Without this flag evbuffer_add_file maps the file (mmap) and the bytes go
	 * out with writev; with it the segment stays a file and the connection's
	 * output buffer, which drains to the socket, sends it with sendfile(2). */
	evbuffer_set_flags(file_reply, EVBUFFER_FLAG_DRAINS_TO_FD);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(http, IDLE_TIMEOUT);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)port) != 0) {
		fprintf(stderr, "evhttp_hello: cannot listen on 127.0.0.1:%d\n", port);
		return 1;
	}
	event_base_dispatch(base);

	evhttp_free(http);
	evbuffer_free(reply);
	evbuffer_free(file_reply);
	event_base_free(base);
	return 0;
}
