/*
 * evhttp_get: a small HTTP client on libevent's evhttp, for interop tests.
 *
 *   evhttp_get [-X METHOD] [-d BODY] [-c] [-n REPEAT] [-t SECONDS] URL [URL...]
 *
 * Every URL must name the same host and port: the requests go one after the
 * other over one evhttp_connection (keep-alive; libevent reconnects on its
 * own if the server closed it). -X sets the method (GET, POST, HEAD, PUT,
 * DELETE; GET by default), -d the request body, -c reads replies through
 * evhttp_request_set_chunked_cb instead of the whole input buffer, -n sends
 * the URL list REPEAT times, -t is the connection timeout (10 s by default).
 *
 * Output, one record per line ("key value"), for each request:
 *
 *   request N METHOD URI
 *   status CODE REASON
 *   header NAME: VALUE          (every response header, in order)
 *   chunks K                    (with -c: how many times the chunked callback ran)
 *   body-length LEN
 *   body-sha256 HEX
 *   body-hex HEX                (only when LEN <= 4096)
 *
 * then "ok N" once all N requests are answered. Any HTTP status counts as an
 * answer; a request that gets no response (connection refused or reset, a
 * timeout, a malformed reply) prints "error N WHY" and the exit status is 1.
 * Bad usage exits with 2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* --- SHA-256 (FIPS 180-4), enough to fingerprint a body ---------------------------------- */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char block[64];
	size_t used;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(s->h, h0, sizeof(h0));
	s->len = 0;
	s->used = 0;
}

static void
sha256_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;
	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void
sha256_update(struct sha256 *s, const unsigned char *p, size_t n)
{
	s->len += n;
	while (n > 0) {
		size_t take = 64 - s->used;
		if (take > n)
			take = n;
		memcpy(s->block + s->used, p, take);
		s->used += take;
		p += take;
		n -= take;
		if (s->used == 64) {
			sha256_block(s, s->block);
			s->used = 0;
		}
	}
}

static void
sha256_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	unsigned char pad = 0x80, len[8];
	int i;
	sha256_update(s, &pad, 1);
	pad = 0;
	while (s->used != 56)
		sha256_update(s, &pad, 1);
	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(s, len, 8);
	for (i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* --- the client ---------------------------------------------------------------------------- */

#define HEX_LIMIT 4096

struct client {
	struct event_base *base;
	struct evhttp_connection *evcon;
	char **uris;          /* path + query of each URL */
	int nuris, repeat, total, next;
	enum evhttp_cmd_type method;
	const char *method_name, *body, *hostport;
	int chunked;
	int failed, finished;
	/* the reply being read */
	struct sha256 sha;
	size_t length;
	int chunks;
	unsigned char head[HEX_LIMIT];
	int error_reported;
};

static void send_next(struct client *c);

static void
take_body(struct client *c, struct evbuffer *buf)
{
	size_t n = evbuffer_get_length(buf);
	unsigned char *p = evbuffer_pullup(buf, -1);
	if (n == 0)
		return;
	if (c->length < HEX_LIMIT) {
		size_t keep = HEX_LIMIT - c->length < n ? HEX_LIMIT - c->length : n;
		memcpy(c->head + c->length, p, keep);
	}
	sha256_update(&c->sha, p, n);
	c->length += n;
}

static void
on_chunk(struct evhttp_request *req, void *arg)
{
	struct client *c = arg;
	c->chunks++;
	take_body(c, evhttp_request_get_input_buffer(req));
}

static const char *
error_name(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "timeout";
	case EVREQ_HTTP_EOF: return "eof";
	case EVREQ_HTTP_INVALID_HEADER: return "invalid-header";
	case EVREQ_HTTP_BUFFER_ERROR: return "buffer-error";
	case EVREQ_HTTP_REQUEST_CANCEL: return "cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG: return "data-too-long";
	}
	return "unknown";
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
	struct client *c = arg;
	printf("error %d %s\n", c->next, error_name(e));
	c->error_reported = 1;
}

static void
on_done(struct evhttp_request *req, void *arg)
{
	struct client *c = arg;
	struct evkeyval *kv;
	const char *line;
	char hex[65];
	size_t i;

	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		if (!c->error_reported)
			printf("error %d no-response\n", c->next);
		c->failed = 1;
		event_base_loopexit(c->base, NULL);
		return;
	}
	line = evhttp_request_get_response_code_line(req);
	printf("status %d %s\n", evhttp_request_get_response_code(req), line ? line : "");
	/* keyvalq_struct.h declares the TAILQ but not TAILQ_FOREACH */
	for (kv = evhttp_request_get_input_headers(req)->tqh_first; kv; kv = kv->next.tqe_next)
		printf("header %s: %s\n", kv->key, kv->value);
	if (c->chunked)
		printf("chunks %d\n", c->chunks);
	take_body(c, evhttp_request_get_input_buffer(req)); /* empty when chunked */
	sha256_hex(&c->sha, hex);
	printf("body-length %zu\nbody-sha256 %s\n", c->length, hex);
	if (c->length <= HEX_LIMIT) {
		printf("body-hex ");
		for (i = 0; i < c->length; i++)
			printf("%02x", c->head[i]);
		printf("\n");
	}
	fflush(stdout);
	send_next(c);
}

static void
send_next(struct client *c)
{
	struct evhttp_request *req;
	const char *uri;

	if (c->next == c->total) {
		printf("ok %d\n", c->total);
		c->finished = 1;
		event_base_loopexit(c->base, NULL);
		return;
	}
	uri = c->uris[c->next % c->nuris];
	c->next++;
	sha256_init(&c->sha);
	c->length = 0;
	c->chunks = 0;
	c->error_reported = 0;

	req = evhttp_request_new(on_done, c);
	evhttp_request_set_error_cb(req, on_error);
	if (c->chunked)
		evhttp_request_set_chunked_cb(req, on_chunk);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", c->hostport);
	evhttp_add_header(evhttp_request_get_output_headers(req), "User-Agent", "evhttp_get");
	if (c->body != NULL)
		evbuffer_add(evhttp_request_get_output_buffer(req), c->body, strlen(c->body));
	printf("request %d %s %s\n", c->next, c->method_name, uri);
	if (evhttp_make_request(c->evcon, req, c->method, uri) != 0) {
		printf("error %d make-request\n", c->next);
		c->failed = 1;
		event_base_loopexit(c->base, NULL);
	}
}

static int
parse_method(const char *name, enum evhttp_cmd_type *out)
{
	static const struct { const char *name; enum evhttp_cmd_type type; } methods[] = {
		{"GET", EVHTTP_REQ_GET}, {"POST", EVHTTP_REQ_POST}, {"HEAD", EVHTTP_REQ_HEAD},
		{"PUT", EVHTTP_REQ_PUT}, {"DELETE", EVHTTP_REQ_DELETE}};
	size_t i;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(name, methods[i].name) == 0) {
			*out = methods[i].type;
			return 0;
		}
	}
	return -1;
}

static int
usage(void)
{
	fprintf(stderr, "usage: evhttp_get [-X METHOD] [-d BODY] [-c] [-n REPEAT] "
	    "[-t SECONDS] URL [URL...]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct client c;
	char host[256] = "";
	int port = -1, timeout = 10, i, argi;
	char hostport[300];
	struct timeval deadline;

	memset(&c, 0, sizeof(c));
	c.method = EVHTTP_REQ_GET;
	c.method_name = "GET";
	c.repeat = 1;
	for (argi = 1; argi < argc && argv[argi][0] == '-'; argi++) {
		const char *opt = argv[argi];
		if (strcmp(opt, "-c") == 0) {
			c.chunked = 1;
		} else if (argi + 1 < argc && strcmp(opt, "-X") == 0) {
			c.method_name = argv[++argi];
			if (parse_method(c.method_name, &c.method) != 0)
				return usage();
		} else if (argi + 1 < argc && strcmp(opt, "-d") == 0) {
			c.body = argv[++argi];
		} else if (argi + 1 < argc && strcmp(opt, "-n") == 0) {
			c.repeat = atoi(argv[++argi]);
		} else if (argi + 1 < argc && strcmp(opt, "-t") == 0) {
			timeout = atoi(argv[++argi]);
		} else {
			return usage();
		}
	}
	if (argi == argc || c.repeat < 1 || timeout < 1)
		return usage();

	c.nuris = argc - argi;
	c.uris = calloc((size_t)c.nuris, sizeof(char *));
	for (i = 0; i < c.nuris; i++) {
		struct evhttp_uri *uri = evhttp_uri_parse(argv[argi + i]);
		const char *path, *query;
		size_t n;
		if (uri == NULL || evhttp_uri_get_host(uri) == NULL) {
			fprintf(stderr, "evhttp_get: bad URL %s\n", argv[argi + i]);
			return 2;
		}
		if (i == 0) {
			snprintf(host, sizeof(host), "%s", evhttp_uri_get_host(uri));
			port = evhttp_uri_get_port(uri) < 0 ? 80 : evhttp_uri_get_port(uri);
		} else if (strcmp(host, evhttp_uri_get_host(uri)) != 0 ||
		    port != (evhttp_uri_get_port(uri) < 0 ? 80 : evhttp_uri_get_port(uri))) {
			fprintf(stderr, "evhttp_get: every URL must name the same host and port\n");
			return 2;
		}
		path = evhttp_uri_get_path(uri);
		query = evhttp_uri_get_query(uri);
		if (path == NULL || *path == '\0')
			path = "/";
		n = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
		c.uris[i] = malloc(n);
		snprintf(c.uris[i], n, "%s%s%s", path, query ? "?" : "", query ? query : "");
		evhttp_uri_free(uri);
	}
	c.total = c.nuris * c.repeat;
	snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
	c.hostport = hostport;

	c.base = event_base_new();
	c.evcon = evhttp_connection_base_new(c.base, NULL, host, (unsigned short)port);
	if (c.base == NULL || c.evcon == NULL) {
		fprintf(stderr, "evhttp_get: cannot set up libevent\n");
		return 1;
	}
	evhttp_connection_set_timeout(c.evcon, timeout);

	send_next(&c);
	/* A bound on the whole run, whatever happens. */
	deadline.tv_sec = timeout * 3;
	deadline.tv_usec = 0;
	event_base_loopexit(c.base, &deadline);
	event_base_dispatch(c.base);
	if (!c.failed && !c.finished) {
		printf("error %d deadline\n", c.next);
		c.failed = 1;
	}
	fflush(stdout);

	evhttp_connection_free(c.evcon);
	event_base_free(c.base);
	for (i = 0; i < c.nuris; i++)
		free(c.uris[i]);
	free(c.uris);
	return c.failed ? 1 : 0;
}
