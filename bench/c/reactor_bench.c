/*
 * reactor_bench.c - C libevent reference for bench/reactor.py.
 *
 * Two models, both over AF_UNIX SOCK_STREAM socketpairs (no network):
 *
 *   bench    N pairs in a ring, each read end has a persistent EV_READ event.
 *            A callback reads one byte and, while the shared `writes` budget
 *            is > 0, sends one byte into the next pair.  A run adds all N
 *            events, sends one byte into A evenly spaced pairs and loops
 *            EVLOOP_ONCE|EVLOOP_NONBLOCK until every sent byte was read.
 *            Timed, as in bench.c: only the dispatch loop (adds, one
 *            NONBLOCK pass and the first sends happen before the clock starts).
 *   cascade  N pairs in a chain; one-shot EV_READ events with a 60 s timeout.
 *            One byte sent into pair 0 travels down the chain.
 *            Timed: event setup + propagation (event_base_dispatch).
 *
 * Output: one number, the median over RUNS runs (after 2 warm-up runs) of
 * microseconds per callback.  Exit status != 0 on any error.
 *
 * Usage: reactor_bench bench|cascade [-n N] [-a A] [-w W] [-r RUNS] [-m METHOD]
 *        reactor_bench -l      (list the methods this libevent supports)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define WARMUP_RUNS 2
#define WATCHDOG_SECONDS 300

struct ring {
	int n;
	int *rd;            /* read end of pair i */
	int *wr;            /* write end of pair i */
	struct event **ev;
	long read_bytes;    /* bytes read by callbacks */
	long sent;          /* bytes sent (initial + forwarded) */
	long writes;        /* forwarding budget left */
	long callbacks;     /* callbacks fired */
	long errors;
};

static struct ring R;

static void die(const char *what)
{
	fprintf(stderr, "reactor_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void make_pairs(int n)
{
	R.n = n;
	R.rd = calloc((size_t)n, sizeof(int));
	R.wr = calloc((size_t)n, sizeof(int));
	R.ev = calloc((size_t)n, sizeof(struct event *));
	if (!R.rd || !R.wr || !R.ev)
		die("calloc");
	for (int i = 0; i < n; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			die("socketpair");
		for (int k = 0; k < 2; k++)
			if (fcntl(sv[k], F_SETFL, fcntl(sv[k], F_GETFL) | O_NONBLOCK) < 0)
				die("fcntl");
		R.rd[i] = sv[0];
		R.wr[i] = sv[1];
	}
}

/* ---- bench model ------------------------------------------------------ */

static void ring_cb(evutil_socket_t fd, short what, void *arg)
{
	int next_wr = (int)(intptr_t)arg;
	unsigned char c;
	ssize_t got = recv(fd, &c, 1, 0);

	(void)what;
	R.callbacks++;
	if (got > 0)
		R.read_bytes += got;
	else
		R.errors++;
	if (R.writes > 0) {
		if (send(next_wr, "e", 1, 0) == 1)
			R.sent++;
		else
			R.errors++;
		R.writes--;
	}
}

static double bench_run(struct event_base *base, int active, long writes)
{
	int space = R.n / active;
	long cap = 2 * (writes + active) + 100, iters = 0;
	int64_t t0, t1;

	R.read_bytes = R.sent = R.callbacks = R.errors = 0;
	R.writes = writes;
	for (int i = 0; i < R.n; i++)
		if (event_add(R.ev[i], NULL) < 0) {
			fprintf(stderr, "reactor_bench: event_add failed\n");
			exit(1);
		}
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	for (int i = 0; i < active; i++) {
		if (send(R.wr[i * space], "e", 1, 0) != 1)
			die("send");
		R.sent++;
	}
	t0 = now_ns();
	do {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	} while (R.read_bytes != R.sent && ++iters < cap);
	t1 = now_ns();
	if (R.read_bytes != R.sent || R.errors) {
		fprintf(stderr, "reactor_bench: bench run failed (read %ld of %ld, %ld errors)\n",
		    R.read_bytes, R.sent, R.errors);
		exit(1);
	}
	for (int i = 0; i < R.n; i++)   /* untimed: delete, re-added next run */
		event_del(R.ev[i]);
	return (double)(t1 - t0) / 1000.0 / (double)R.callbacks;
}

static void bench_setup(struct event_base *base)
{
	for (int i = 0; i < R.n; i++) {
		int next = R.wr[(i + 1) % R.n];
		R.ev[i] = event_new(base, R.rd[i], EV_READ | EV_PERSIST, ring_cb,
		    (void *)(intptr_t)next);
		if (!R.ev[i])
			die("event_new");
	}
}

/* ---- cascade model ---------------------------------------------------- */

static void chain_cb(evutil_socket_t fd, short what, void *arg)
{
	int next_wr = (int)(intptr_t)arg;
	unsigned char c;

	R.callbacks++;
	if (!(what & EV_READ) || recv(fd, &c, 1, 0) != 1)
		R.errors++;
	if (next_wr >= 0 && send(next_wr, "e", 1, 0) != 1)
		R.errors++;
}

static double cascade_run(struct event_base *base)
{
	struct timeval tmo = {60, 0};
	int64_t t0, t1;

	R.callbacks = R.errors = 0;
	t0 = now_ns();
	for (int i = 0; i < R.n; i++) {
		int next = i + 1 < R.n ? R.wr[i + 1] : -1;
		event_assign(R.ev[i], base, R.rd[i], EV_READ, chain_cb, (void *)(intptr_t)next);
		event_add(R.ev[i], &tmo);
	}
	if (send(R.wr[0], "e", 1, 0) != 1)
		die("send");
	event_base_dispatch(base);
	t1 = now_ns();
	if (R.callbacks != R.n || R.errors) {
		fprintf(stderr, "reactor_bench: cascade run failed (%ld of %d fired, %ld errors)\n",
		    R.callbacks, R.n, R.errors);
		exit(1);
	}
	return (double)(t1 - t0) / 1000.0 / (double)R.callbacks;
}

/* ---- main ------------------------------------------------------------- */

static struct event_base *make_base(const char *method)
{
	struct event_config *cfg = event_config_new();
	const char **m = event_get_supported_methods();
	struct event_base *base;

	if (!cfg)
		die("event_config_new");
	for (int i = 0; method && m[i]; i++)
		if (strcmp(m[i], method) != 0)
			event_config_avoid_method(cfg, m[i]);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!base || (method && strcmp(event_base_get_method(base), method) != 0)) {
		fprintf(stderr, "reactor_bench: method %s not available\n", method);
		exit(2);
	}
	return base;
}

static void raise_nofile(int n)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)n * 2 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = need <= rl.rlim_max ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("setrlimit");
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: reactor_bench bench|cascade [-n N] [-a A] [-w W] "
	    "[-r RUNS] [-m METHOD]\n       reactor_bench -l\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int n = 100, active = 1, runs = 25, c;
	long writes = -1;
	const char *method = NULL, *model;
	struct event_base *base;
	double *res;

	if (argc >= 2 && strcmp(argv[1], "-l") == 0) {
		const char **m = event_get_supported_methods();
		for (int i = 0; m[i]; i++)
			printf("%s\n", m[i]);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "bench") && strcmp(argv[1], "cascade")))
		usage();
	model = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "n:a:w:r:m:")) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 'a': active = atoi(optarg); break;
		case 'w': writes = atol(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'm': method = optarg; break;
		default: usage();
		}
	}
	if (writes < 0)
		writes = n;
	if (n < 1 || active < 1 || active > n || runs < 1)
		usage();

	if (method && strcmp(method, "select") == 0 && 2 * n + 16 >= FD_SETSIZE) {
		fprintf(stderr, "reactor_bench: select cannot watch fds >= FD_SETSIZE (%d)\n", FD_SETSIZE);
		return 2;
	}
	alarm(WATCHDOG_SECONDS);   /* hard bound on the whole program */
	raise_nofile(n);
	base = make_base(method);
	make_pairs(n);
	res = calloc((size_t)runs, sizeof(double));
	if (!res)
		die("calloc");
	if (model[0] == 'b') {
		bench_setup(base);
		for (int i = 0; i < WARMUP_RUNS; i++)
			bench_run(base, active, writes);
		for (int i = 0; i < runs; i++)
			res[i] = bench_run(base, active, writes);
	} else {
		for (int i = 0; i < n; i++) {
			R.ev[i] = event_new(base, -1, 0, NULL, NULL);
			if (!R.ev[i])
				die("event_new");
		}
		for (int i = 0; i < WARMUP_RUNS; i++)
			cascade_run(base);
		for (int i = 0; i < runs; i++)
			res[i] = cascade_run(base);
	}
	qsort(res, (size_t)runs, sizeof(double), cmp_double);
	printf("%.4f\n", runs % 2 ? res[runs / 2] : (res[runs / 2 - 1] + res[runs / 2]) / 2);
	for (int i = 0; i < n; i++) {
		event_free(R.ev[i]);
		close(R.rd[i]);
		close(R.wr[i]);
	}
	event_base_free(base);
	free(res);
	return 0;
}
