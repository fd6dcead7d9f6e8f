/*
 * The physical floor: a minimal C program making the kernel calls netplumb's
 * engine makes for one sandbox with one published port, and nothing else.
 * The netlink messages themselves are encoded beforehand by netplumb's
 * encoders (bench/floor.ts writes them to a file), so this measures the
 * kernel plus the least user-space a program can add:
 *
 *   per sandbox: unshare(CLONE_NEWNET); bind-mount it under /run/netns;
 *   socket() in it;
 *   [lo up + veth eth0 (MAC; MTU and one queue each way on both ends; peer
 *   born in the host)] in one sendmsg;
 *   conf/eth0/disable_ipv6 = 1 (an IPv4-only network, as the engine does;
 *   opened through a procfs instance of the thread's own, renewed every 32
 *   sandboxes, as the engine's builders do: through /proc the lookup of
 *   sys/net walks one dentry per network namespace on the machine);
 *   host end's conf/flvI/disable_ipv6 = 1 (through the host's conf directory,
 *   opened once per thread, as the engine's builders do);
 *   [host end: master, up, alias] + [host end: bridge port hairpin] in one
 *   sendmsg on a host socket (the kernel applies bridge-port settings
 *   before the master of the same message, hence two);
 *   [address, eth0 up, default route];
 *   [nft: one DNAT map element] on a host nf_tables socket; setns back.
 *
 * With a state directory (STATE below), also the file operations the engine
 * makes for a sandbox, the way native/fsops.cc makes them: each opens its
 * parent directory with openat2(RESOLVE_NO_SYMLINKS); a new file is written
 * unnamed (O_TMPFILE) and linked, a replaced one written under a temporary
 * name and renamed over it.
 *   before the namespace: the address reservation (ipam/floor/IP), the
 *   record (sandboxes/floorI.json), the port (mkdir ports/tcp_P, its owner
 *   file, the directory read: the only entry), a bind probe of the port,
 *   the network's record read;
 *   after the nftables element: /etc/netns and /etc/netns/floorI made,
 *   hostname, hosts and resolv.conf written, the record replaced (ready),
 *   the address cursor replaced.
 * Sizes as the engine writes them. The difference between the two floors is
 * what keeping state on disk costs the kernel.
 *
 *   floor SETUP  FILE N     -> prints "setup_ns <total>", and the time of the
 *                              first and of the last tenth of the sandboxes
 *                              ("first_tenth_ns", "last_tenth_ns": does the
 *                              kernel's own cost grow with N?), and where
 *                              the time went, as totals per phase
 *                              ("phase_<name>_ns", names as the engine's
 *                              job phases where they match: see PHASES)
 *   floor SETUP  FILE N T STATE -> the same, with the engine's file
 *                              operations under the directory STATE (which
 *                              holds ipam/floor, sandboxes, ports and
 *                              networks/floor.json) and /etc/netns
 *   floor SETUP  FILE N T   -> the same sandboxes made by T threads at once
 *                              (each takes the next one when done), as the
 *                              engine runs with T calls in flight; prints
 *                              "setup_ns <total>": the floor for concurrency
 *                              on the CPUs at hand
 *   floor TEARDOWN N        -> lazy-unmounts the namespaces, waits until the
 *                              host ends are gone, prints "teardown_ns <total>"
 *
 * Build: cc -O2 -pthread -o floor floor.c (bench/run.sh does it). Run only inside the
 * bench sandbox.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int nl_open(int proto) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
  if (fd < 0) die("socket");
  struct sockaddr_nl a = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind");
  return fd;
}

/* Sends a batch and reads until every message that asked for an ACK got one;
 * the kernel has queued them all by the time sendmsg returns. */
static void nl_talk(int fd, uint8_t *msg, uint32_t len) {
  static _Thread_local uint32_t seq = 1;
  int want = 0;
  for (uint32_t off = 0; off + sizeof(struct nlmsghdr) <= len;) {
    struct nlmsghdr *h = (struct nlmsghdr *)(msg + off);
    h->nlmsg_seq = seq++;
    if (h->nlmsg_flags & NLM_F_ACK) want++;
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  if (send(fd, msg, len, 0) < 0) die("send");
  char buf[16384];
  while (want > 0) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) die("recv");
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        if (e->error != 0) {
          errno = -e->error;
          die("netlink request");
        }
        want--;
      }
    }
  }
}

static uint8_t *read_chunk(FILE *f, uint32_t *len) {
  if (fread(len, 4, 1, f) != 1) die("short message file");
  uint8_t *b = malloc(*len);
  if (*len && fread(b, *len, 1, f) != 1) die("short message file");
  return b;
}

/* ---- the engine's file operations (with a state directory) ---- */

static const char *state_dir; /* NULL: the kernel calls of the plumbing alone */
static atomic_long tmp_seq;

static int open_dir(const char *path) {
  struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                         .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
  if (fd < 0) die(path);
  return fd;
}

/* The mode asked for, whatever the umask (chmod only when it narrowed it). */
static void keep_mode(int fd, mode_t mode) {
  struct stat st;
  if (fstat(fd, &st) < 0) die("fstat");
  if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0) die("fchmod");
}

static void write_all(int fd, const char *data) {
  size_t len = strlen(data);
  if (write(fd, data, len) != (ssize_t)len) die("write");
}

static void file_create(const char *dir, const char *name, const char *data, mode_t mode) {
  int d = open_dir(dir);
  int f = openat(d, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
  if (f < 0) die("O_TMPFILE");
  keep_mode(f, mode);
  write_all(f, data);
  if (linkat(f, "", d, name, AT_EMPTY_PATH) < 0) die("linkat");
  close(f);
  close(d);
}

static void file_replace(const char *dir, const char *name, const char *data, mode_t mode) {
  int d = open_dir(dir);
  char tmp[64];
  snprintf(tmp, sizeof(tmp), ".tmp.%d.%ld", getpid(), atomic_fetch_add(&tmp_seq, 1));
  int f = openat(d, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (f < 0) die("create temporary");
  keep_mode(f, mode);
  write_all(f, data);
  close(f);
  if (renameat(d, tmp, d, name) < 0) die("rename");
  close(d);
}

static void make_dir(const char *dir, const char *name, mode_t mode) {
  int d = open_dir(dir);
  if (mkdirat(d, name, mode) < 0) {
    struct stat st;
    if (errno != EEXIST || fstatat(d, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) die("mkdir");
  }
  close(d);
}

static void read_file(const char *dir, const char *name) {
  int d = open_dir(dir);
  int f = openat(d, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (f < 0) die("read");
  char buf[8192];
  while (read(f, buf, sizeof(buf)) > 0) {
  }
  close(f);
  close(d);
}

static void only_entry(const char *path) {
  DIR *d = fdopendir(open_dir(path));
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
  closedir(d);
  if (n != 1) die("port directory");
}

static void probe_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("probe socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("probe");
  close(fd);
}

/* A record the size of the engine's (537 bytes for such a sandbox). */
static void record_text(char *out, size_t size, int i, const char *state) {
  int n =
      snprintf(out, size, "{\"name\":\"floor%d\",\"state\":\"%s\",\"netns\":\"floor%d\",\"endpoints\":[", i, state, i);
  while (n < 535 && (size_t)n + 1 < size) out[n++] = ' ';
  snprintf(out + n, size - (size_t)n, "]}");
}

static void files_before(int i, const char *ip) {
  char dir[256], name[64], rec[600];
  snprintf(dir, sizeof(dir), "%s/ipam/floor", state_dir);
  snprintf(name, sizeof(name), "floor%d", i);
  file_create(dir, ip, name, 0600);
  snprintf(dir, sizeof(dir), "%s/sandboxes", state_dir);
  snprintf(name, sizeof(name), "floor%d.json", i);
  record_text(rec, sizeof(rec), i, "creating");
  file_create(dir, name, rec, 0600);
  snprintf(dir, sizeof(dir), "%s/ports", state_dir);
  snprintf(name, sizeof(name), "tcp_%d", 20000 + i);
  make_dir(dir, name, 0700);
  snprintf(dir, sizeof(dir), "%s/ports/tcp_%d", state_dir, 20000 + i);
  snprintf(name, sizeof(name), "floor%d", i);
  file_create(dir, "0.0.0.0", name, 0600);
  only_entry(dir);
  probe_port(20000 + i);
  snprintf(dir, sizeof(dir), "%s/networks", state_dir);
  read_file(dir, "floor.json");
}

static void files_after(int i, const char *ip) {
  char dir[256], name[64], text[600];
  make_dir("/etc", "netns", 0755);
  snprintf(name, sizeof(name), "floor%d", i);
  make_dir("/etc/netns", name, 0755);
  snprintf(dir, sizeof(dir), "/etc/netns/floor%d", i);
  snprintf(text, sizeof(text), "floor%d\n", i);
  file_replace(dir, "hostname", text, 0644);
  snprintf(
      text, sizeof(text),
      "# managed by netplumb (00000000)\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n%s\tfloor%d\n",
      ip, i);
  file_replace(dir, "hosts", text, 0644);
  file_replace(dir, "resolv.conf", "nameserver 10.88.0.1\noptions ndots:0\n", 0644);
  snprintf(dir, sizeof(dir), "%s/sandboxes", state_dir);
  snprintf(name, sizeof(name), "floor%d.json", i);
  record_text(text, sizeof(text), i, "ready");
  file_replace(dir, name, text, 0600);
  snprintf(dir, sizeof(dir), "%s/ipam/floor", state_dir);
  file_replace(dir, ".cursor4", ip, 0600);
}

/* The address of sandbox i, as bench/floor.ts gives it (10.88.0.2 on). */
static void address_of(int i, char *out, size_t size) {
  int h = i + 2;
  snprintf(out, size, "10.88.%d.%d", h >> 8, h & 255);
}

/* The sandboxes to make: four prepared batches each (see the top). */
static uint8_t **msgs;
static uint32_t *lens;
static int n, tenth;
static atomic_int next_sandbox;
static int64_t t0, first_end, last_start;

/* Where one thread's time went (single-threaded runs print it). reserve:
 * the state files before the namespace (the engine's job.reserve); netns:
 * its file, unshare and the bind mount (the engine makes the namespace
 * ahead, between jobs); veth: a socket in it, lo up and the pair; ipv6: both
 * ends' disable_ipv6; bridge: the host end's message; eth0: address, up,
 * route; nft: the map element; files: /etc/netns and the records after;
 * home: the socket closed and setns back. */
enum { P_RESERVE, P_NETNS, P_VETH, P_IPV6, P_BRIDGE, P_ETH0, P_NFT, P_FILES, P_HOME, PHASES };
static const char *const phase_names[PHASES] = {"reserve", "netns", "veth",  "ipv6", "bridge",
                                                "eth0",    "nft",   "files", "home"};
static _Thread_local int64_t phase_ns[PHASES], phase_mark;
static void phase_end(int p) {
  int64_t t = now_ns();
  phase_ns[p] += t - phase_mark;
  phase_mark = t;
}

/* A procfs instance mounted nowhere (-1 where the kernel refuses). */
static int private_proc(void) {
  int fs = (int)syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC);
  if (fs < 0) return -1;
  int mnt = -1;
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
    mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  close(fs);
  return mnt;
}

/* Makes sandboxes until none is left. A thread's network namespace is its
 * own: unshare and setns move only the calling thread, which is why the
 * namespace is bound from /proc/thread-self, not /proc/self. */
static void *make_sandboxes(void *unused) {
  (void)unused;
  int rt_host = nl_open(NETLINK_ROUTE);
  int nft_host = nl_open(NETLINK_NETFILTER);
  char path[64];
  int proc = -1, made = 0;
  int host_conf = open("/proc/sys/net/ipv6/conf", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (host_conf < 0) die("host conf");
  for (;;) {
    int i = atomic_fetch_add(&next_sandbox, 1);
    if (i >= n) break;
    if (i == tenth) first_end = now_ns();
    if (i == n - tenth) last_start = now_ns();
    uint8_t **m = &msgs[i * 4];
    uint32_t *l = &lens[i * 4];
    char ip[32];
    address_of(i, ip, sizeof(ip));
    phase_mark = now_ns();
    if (state_dir) files_before(i, ip);
    phase_end(P_RESERVE);
    snprintf(path, sizeof(path), "/run/netns/floor%d", i);
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL, 0);
    if (fd < 0) die("create netns file");
    close(fd);
    if (unshare(CLONE_NEWNET) < 0) die("unshare");
    if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) die("mount");
    phase_end(P_NETNS);
    int rt = nl_open(NETLINK_ROUTE);
    nl_talk(rt, m[0], l[0]);
    phase_end(P_VETH);
    if (made++ % 32 == 0) {
      if (proc >= 0) close(proc);
      proc = private_proc();
    }
    const char *v6path = "/proc/sys/net/ipv6/conf/eth0/disable_ipv6";
    int v6 = proc >= 0 ? openat(proc, v6path + strlen("/proc/"), O_WRONLY) : open(v6path, O_WRONLY);
    if (v6 < 0 || write(v6, "1", 1) != 1) die("disable_ipv6");
    close(v6);
    snprintf(path, sizeof(path), "flv%d/disable_ipv6", i);
    int hv6 = openat(host_conf, path, O_WRONLY);
    if (hv6 < 0 || write(hv6, "1", 1) != 1) die("host end disable_ipv6");
    close(hv6);
    phase_end(P_IPV6);
    nl_talk(rt_host, m[1], l[1]);
    phase_end(P_BRIDGE);
    nl_talk(rt, m[2], l[2]);
    phase_end(P_ETH0);
    nl_talk(nft_host, m[3], l[3]);
    phase_end(P_NFT);
    if (state_dir) files_after(i, ip);
    phase_end(P_FILES);
    close(rt);
    if (setns(3, CLONE_NEWNET) < 0) die("setns");
    phase_end(P_HOME);
  }
  if (proc >= 0) close(proc);
  close(host_conf);
  close(rt_host);
  close(nft_host);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: floor setup FILE N [THREADS [STATE]] | floor teardown N\n");
    return 2;
  }
  if (strcmp(argv[1], "teardown") == 0) {
    n = atoi(argv[2]);
    t0 = now_ns();
    char path[64];
    for (int i = 0; i < n; i++) {
      snprintf(path, sizeof(path), "/run/netns/floor%d", i);
      umount2(path, MNT_DETACH);
      unlink(path);
    }
    /* Until the kernel has destroyed the host ends (flv*). */
    for (;;) {
      int left = 0;
      DIR *d = opendir("/sys/class/net");
      struct dirent *e;
      while ((e = readdir(d)) != NULL) left += strncmp(e->d_name, "flv", 3) == 0;
      closedir(d);
      if (left == 0) break;
      usleep(200);
    }
    printf("teardown_ns %lld\n", (long long)(now_ns() - t0));
    return 0;
  }
  /* fd 3: the host namespace (the messages name it as IFLA_NET_NS_FD 3). */
  int host = open("/proc/self/ns/net", O_RDONLY);
  if (host != 3) {
    fprintf(stderr, "expected the host namespace on fd 3, got %d\n", host);
    return 1;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) die("open message file");
  n = atoi(argv[3]);
  int threads = argc > 4 ? atoi(argv[4]) : 1;
  if (threads < 1) threads = 1;
  if (argc > 5) state_dir = argv[5];
  /* Read everything first: file I/O is not part of the floor. */
  msgs = calloc((size_t)n * 4, sizeof(*msgs));
  lens = calloc((size_t)n * 4, sizeof(*lens));
  for (int i = 0; i < n * 4; i++) msgs[i] = read_chunk(f, &lens[i]);
  t0 = now_ns();
  tenth = n / 10 > 0 ? n / 10 : 1;
  last_start = t0;
  if (threads == 1) {
    make_sandboxes(NULL);
  } else {
    pthread_t tid[threads];
    for (int t = 0; t < threads; t++)
      if (pthread_create(&tid[t], NULL, make_sandboxes, NULL) != 0) die("pthread_create");
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  }
  int64_t end = now_ns();
  if (first_end == 0) first_end = end;
  printf("setup_ns %lld\n", (long long)(end - t0));
  if (threads > 1) return 0; /* sandboxes overlap: no per-tenth times */
  printf("first_tenth_ns %lld\n", (long long)(first_end - t0));
  printf("last_tenth_ns %lld\n", (long long)(end - last_start));
  for (int p = 0; p < PHASES; p++) printf("phase_%s_ns %lld\n", phase_names[p], (long long)phase_ns[p]);
  return 0;
}
