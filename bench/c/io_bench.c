/*
 * io_bench.c - C libevent bufferevent reference for bench/io.py.
 *
 * Client and server bufferevents on ONE event_base in this one process,
 * exactly as the Python peers of bench/io.py run them.
 *
 *   echo      the client keeps WINDOW 64 KiB chunks in flight (bufferevent_write
 *             of a fresh chunk whenever fewer are outstanding), the server moves
 *             its input to its output (evbuffer_add_buffer).  After -d seconds
 *             the client stops writing and waits for every byte to come back.
 *             Prints MB/s (10^6 bytes) of echoed data.
 *   pingpong  one byte back and forth, -n round trips or -d seconds, whichever
 *             comes first.  Prints round trips per second.
 *
 * Transports: "unix" (a socketpair) or "tcp" (127.0.0.1, TCP_NODELAY on both
 * ends, as asyncio sets it).  A short untimed warm-up runs on the same
 * connection first.  Exit status != 0 on any error; alarm() bounds the run.
 *
 * Usage: io_bench echo|pingpong unix|tcp [-d SECONDS] [-n COUNT]
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define CHUNK 65536
#define WINDOW 4
#define WATCHDOG_SECONDS 60

struct state {
	struct event_base *base;
	struct bufferevent *cli, *srv;
	int pingpong;
	int stopping, done, failed;
	uint64_t sent, recvd;
	long rts, max_rts;
	double deadline, t_end;
};

static struct state S;
static unsigned char chunk[CHUNK];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "io_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void finish(void)
{
	S.t_end = now();
	S.done = 1;
	event_base_loopbreak(S.base);
}

static void top_up(void)
{
	if (!S.stopping && now() >= S.deadline)
		S.stopping = 1;
	while (!S.stopping && S.sent - S.recvd < (uint64_t)WINDOW * CHUNK) {
		if (bufferevent_write(S.cli, chunk, CHUNK) != 0)
			die("bufferevent_write");
		S.sent += CHUNK;
	}
}

static void server_read(struct bufferevent *bev, void *arg)
{
	evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	evbuffer_drain(in, n);
	S.recvd += n;
	if (S.pingpong) {
		S.rts += 1;
		if (S.rts >= S.max_rts || now() >= S.deadline)
			finish();
		else
			bufferevent_write(bev, "x", 1);
		return;
	}
	top_up();
	if (S.stopping && S.recvd == S.sent)
		finish();
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		fprintf(stderr, "io_bench: connection event 0x%x\n", what);
		S.failed = 1;
		event_base_loopbreak(S.base);
	}
}

static void make_pair(const char *transport, int fds[2])
{
	if (strcmp(transport, "unix") == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
			die("socketpair");
		return;
	}
	if (strcmp(transport, "tcp") != 0) {
		fprintf(stderr, "io_bench: transport must be unix or tcp\n");
		exit(2);
	}
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int one = 1;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 1) != 0)
		die("listen");
	if (getsockname(lfd, (struct sockaddr *)&sin, &len) != 0)
		die("getsockname");
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("connect");
	fds[1] = accept(lfd, NULL, NULL);
	if (fds[1] < 0)
		die("accept");
	close(lfd);
	for (int i = 0; i < 2; i++)
		if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
			die("TCP_NODELAY");
}

/* One phase: returns MB/s (echo) or round trips/s (pingpong). */
static double run(double seconds, long max_rts)
{
	double t0;

	S.stopping = S.done = 0;
	S.sent = S.recvd = 0;
	S.rts = 0;
	S.max_rts = max_rts;
	t0 = now();
	S.deadline = t0 + seconds;
	if (S.pingpong) {
		bufferevent_write(S.cli, "x", 1);
		S.sent = 1;
	} else {
		top_up();
	}
	while (!S.done && !S.failed && now() < S.deadline + 10.0)
		event_base_loop(S.base, EVLOOP_ONCE);
	if (!S.done || S.failed) {
		fprintf(stderr, "io_bench: run did not finish\n");
		exit(1);
	}
	if (S.pingpong)
		return S.rts / (S.t_end - t0);
	return S.recvd / (S.t_end - t0) / 1e6;
}

int main(int argc, char **argv)
{
	double seconds = 1.5;
	long count = 20000;
	int fds[2], opt;

	if (argc < 3) {
		fprintf(stderr, "usage: io_bench echo|pingpong unix|tcp [-d SECONDS] [-n COUNT]\n");
		return 2;
	}
	S.pingpong = strcmp(argv[1], "pingpong") == 0;
	if (!S.pingpong && strcmp(argv[1], "echo") != 0) {
		fprintf(stderr, "io_bench: mode must be echo or pingpong\n");
		return 2;
	}
	optind = 3;
	while ((opt = getopt(argc, argv, "d:n:")) != -1) {
		if (opt == 'd')
			seconds = atof(optarg);
		else if (opt == 'n')
			count = atol(optarg);
		else
			return 2;
	}
	alarm(WATCHDOG_SECONDS);
	memset(chunk, 'x', sizeof(chunk));
	make_pair(argv[2], fds);
	S.base = event_base_new();
	if (S.base == NULL)
		die("event_base_new");
	S.cli = bufferevent_socket_new(S.base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	S.srv = bufferevent_socket_new(S.base, fds[1], BEV_OPT_CLOSE_ON_FREE);
	if (S.cli == NULL || S.srv == NULL)
		die("bufferevent_socket_new");
	bufferevent_setcb(S.cli, client_read, NULL, on_event, NULL);
	bufferevent_setcb(S.srv, server_read, NULL, on_event, NULL);
	bufferevent_enable(S.cli, EV_READ | EV_WRITE);
	bufferevent_enable(S.srv, EV_READ | EV_WRITE);

	run(S.pingpong ? 10.0 : 0.2, count / 10 + 1);  /* warm-up, untimed */
	printf("%.3f\n", run(seconds, count));

	bufferevent_free(S.cli);
	bufferevent_free(S.srv);
	event_base_free(S.base);
	return 0;
}
