/*
 * evdns_bench.c - C libevent evdns reference for bench/dns.py.
 *
 * Sends COUNT A queries for the names h0.PREFIX .. h(N-1).PREFIX, in turn
 * (query k asks for name k % N), to one nameserver with INFLIGHT of them
 * outstanding: each answer's callback starts the next query.  Every answer
 * must be DNS_ERR_NONE with at least one address, else it counts as failed.
 * The resolver is evdns_base_new(base, 0) with only this nameserver, no
 * search list (DNS_QUERY_NO_SEARCH), max-inflight raised to INFLIGHT so no
 * query waits in evdns's own queue, other options at libevent's defaults
 * (randomize-case on).
 *
 * Prints one JSON line: {"seconds": S, "count": C, "failed": F}.
 * Exit status != 0 on a setup error; alarm() bounds the run.
 *
 * Usage: evdns_bench -s IP:PORT [-n NAMES] [-c COUNT] [-i INFLIGHT] [-p PREFIX]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#define WATCHDOG_SECONDS 120

struct bench {
	struct event_base *base;
	struct evdns_base *dns;
	const char *prefix;
	int names;
	int count;
	int started;
	int done;
	int failed;
};

static void start_one(struct bench *b);

static void
on_answer(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	struct bench *b = arg;
	(void)ttl;
	(void)addresses;
	if (result != DNS_ERR_NONE || type != DNS_IPv4_A || count < 1)
		b->failed++;
	b->done++;
	if (b->started < b->count)
		start_one(b);
	else if (b->done == b->count)
		event_base_loopbreak(b->base);
}

static void
start_one(struct bench *b)
{
	char name[256];
	snprintf(name, sizeof(name), "h%d.%s", b->started % b->names, b->prefix);
	b->started++;
	if (!evdns_base_resolve_ipv4(b->dns, name, DNS_QUERY_NO_SEARCH, on_answer, b)) {
		b->failed++;
		b->done++;
	}
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct bench b = {0};
	const char *server = NULL;
	int inflight = 100, opt, i;
	char value[32];
	double t0, elapsed;

	b.names = 1000;
	b.count = 10000;
	b.prefix = "bench.test";
	while ((opt = getopt(argc, argv, "s:n:c:i:p:")) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'n': b.names = atoi(optarg); break;
		case 'c': b.count = atoi(optarg); break;
		case 'i': inflight = atoi(optarg); break;
		case 'p': b.prefix = optarg; break;
		default:
			fprintf(stderr, "usage: %s -s IP:PORT [-n NAMES] [-c COUNT] [-i INFLIGHT] [-p PREFIX]\n", argv[0]);
			return 2;
		}
	}
	if (!server || b.names < 1 || b.count < 1 || inflight < 1) {
		fprintf(stderr, "evdns_bench: -s IP:PORT is required; counts must be >= 1\n");
		return 2;
	}
	alarm(WATCHDOG_SECONDS);
	b.base = event_base_new();
	b.dns = b.base ? evdns_base_new(b.base, 0) : NULL;
	if (!b.dns || evdns_base_nameserver_ip_add(b.dns, server) != 0) {
		fprintf(stderr, "evdns_bench: cannot set up the resolver for %s\n", server);
		return 1;
	}
	snprintf(value, sizeof(value), "%d", inflight);
	evdns_base_set_option(b.dns, "max-inflight:", value);

	t0 = now();
	for (i = 0; i < inflight && b.started < b.count; i++)
		start_one(&b);
	if (b.done < b.count)
		event_base_dispatch(b.base);
	elapsed = now() - t0;

	printf("{\"seconds\": %.6f, \"count\": %d, \"failed\": %d}\n", elapsed, b.done, b.failed);
	evdns_base_free(b.dns, 0);
	event_base_free(b.base);
	return 0;
}
