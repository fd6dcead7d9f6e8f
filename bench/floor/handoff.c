/*
 * What handing work to another thread and back costs on this machine, with
 * nothing else in between: two threads ping-pong over eventfds (each sleeps
 * in poll until the other writes), as a JS call does with its native
 * thread. Run it twice: unpinned, the scheduler wakes each side on the
 * other, idle CPU; pinned to one CPU (taskset -c 0), a wakeup is a local
 * context switch. On a small VM the first is ten times the second.
 *
 *   handoff [N]   -> prints "handoff_rtt_us <mean round trip>"
 *
 * Build: cc -O2 -pthread -o handoff handoff.c (bench/run.sh does it).
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int to_peer, to_main;
static long rounds = 20000;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void signal_fd(int fd) {
  uint64_t one = 1;
  if (write(fd, &one, sizeof one) != sizeof one) die("write");
}

static void wait_fd(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, -1) != 1) die("poll");
  uint64_t v;
  if (read(fd, &v, sizeof v) != sizeof v) die("read");
}

static void *peer(void *arg) {
  (void)arg;
  for (long i = 0; i < rounds; i++) {
    wait_fd(to_peer);
    signal_fd(to_main);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) rounds = atol(argv[1]);
  to_peer = eventfd(0, EFD_CLOEXEC);
  to_main = eventfd(0, EFD_CLOEXEC);
  if (to_peer < 0 || to_main < 0) die("eventfd");
  pthread_t t;
  if (pthread_create(&t, NULL, peer, NULL) != 0) die("pthread_create");
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < rounds; i++) {
    signal_fd(to_peer);
    wait_fd(to_main);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(t, NULL);
  double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / (double)rounds;
  printf("handoff_rtt_us %.1f\n", us);
  return 0;
}
