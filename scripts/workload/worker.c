/*
 * cgfreeze test/bench workload: N tasks in one cgroup.
 *
 *   worker --cgroup DIR [--tasks N] [--mode busy|idle] [--counter FILE]
 *
 * The leader joins DIR (writes "0" to DIR/cgroup.procs; same on v1 and v2),
 * then forks N-1 sleepers, so every task is born in the cgroup. When all are
 * in place it prints "ready <pid0> <pid1> ...\n" on stdout and becomes task 0:
 *   busy: increments a 64-bit counter at offset 0 of FILE (MAP_SHARED) forever;
 *   idle: blocks in read(0) and echoes every byte to stdout at once (and
 *         counts the bytes in FILE when given). EOF on stdin ends the worker.
 * All tasks share one process group (pgid = leader pid). The leader dies with
 * its parent (PR_SET_PDEATHSIG) and the sleepers die with the leader.
 * Exit status 2: bad usage or setup failure (reason on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Set once we lead our own process group: never signal the caller's group. */
static int own_group;

static void die(const char *what, const char *arg) {
  fprintf(stderr, "worker: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  /* Take any sleepers already forked down with us. */
  if (own_group) kill(0, SIGKILL);
  _exit(2);
}

static void usage(const char *why) {
  fprintf(stderr, "worker: %s\nusage: worker --cgroup DIR [--tasks N] [--mode busy|idle] [--counter FILE]\n", why);
  _exit(2);
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static void join_cgroup(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path) usage("cgroup path too long");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("cannot open", path);
  if (write(fd, "0", 1) != 1) die("cannot join", dir);
  close(fd);
}

static volatile uint64_t *map_counter(const char *file) {
  int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot open counter", file);
  if (ftruncate(fd, sizeof(uint64_t)) != 0) die("cannot size counter", file);
  void *p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("cannot map counter", file);
  close(fd);
  return (volatile uint64_t *)p;
}

static void sleeper(pid_t leader, int ready_fd) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(2);
  /* The leader may have died before prctl took effect. */
  if (getppid() != leader) _exit(0);
  char one = 1;
  if (write_all(ready_fd, &one, 1) != 0) _exit(2);
  close(ready_fd);
  const struct timespec nap = {0, 200 * 1000 * 1000};
  for (;;) nanosleep(&nap, NULL);
}

int main(int argc, char **argv) {
  const char *cgroup = NULL, *counter_file = NULL, *mode = "busy";
  long tasks = 1;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage("missing value");
    const char *opt = argv[i], *val = argv[++i];
    if (strcmp(opt, "--cgroup") == 0) cgroup = val;
    else if (strcmp(opt, "--counter") == 0) counter_file = val;
    else if (strcmp(opt, "--mode") == 0) mode = val;
    else if (strcmp(opt, "--tasks") == 0) {
      char *end;
      tasks = strtol(val, &end, 10);
      if (*end != '\0' || tasks < 1 || tasks > 100000) usage("--tasks must be 1..100000");
    } else usage("unknown option");
  }
  int busy = strcmp(mode, "busy") == 0;
  if (!busy && strcmp(mode, "idle") != 0) usage("--mode must be busy or idle");
  if (cgroup == NULL) usage("--cgroup is required");
  if (busy && counter_file == NULL) usage("busy mode needs --counter");

  if (setpgid(0, 0) != 0) die("setpgid", NULL);
  own_group = 1;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl", NULL);
  if (getppid() == 1) _exit(0);
  /* Sleepers that die early are reaped by the kernel, not left as zombies. */
  signal(SIGCHLD, SIG_IGN);

  volatile uint64_t *counter = counter_file ? map_counter(counter_file) : NULL;
  join_cgroup(cgroup);

  pid_t *pids = calloc((size_t)tasks, sizeof(pid_t));
  int ready[2];
  if (pids == NULL) die("calloc", NULL);
  if (pipe2(ready, O_CLOEXEC) != 0) die("pipe", NULL);
  pid_t leader = getpid();
  pids[0] = leader;
  for (long i = 1; i < tasks; i++) {
    pid_t pid = fork();
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
      close(ready[0]);
      sleeper(leader, ready[1]);
    }
    pids[i] = pid;
  }
  close(ready[1]);
  /* Barrier: every sleeper has set its death signal. */
  for (long got = 0; got < tasks - 1;) {
    char buf[256];
    ssize_t n = read(ready[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      errno = n == 0 ? ECHILD : errno;
      die("sleeper did not start", NULL);
    }
    got += n;
  }
  close(ready[0]);

  size_t cap = 16 + (size_t)tasks * 12, len = 0;
  char *line = malloc(cap);
  if (line == NULL) die("malloc", NULL);
  len += (size_t)snprintf(line + len, cap - len, "ready");
  for (long i = 0; i < tasks; i++) len += (size_t)snprintf(line + len, cap - len, " %d", (int)pids[i]);
  line[len++] = '\n';
  if (write_all(1, line, len) != 0) die("write ready", NULL);
  free(line);
  free(pids);

  if (busy) {
    uint64_t v = *counter;
    for (;;) __atomic_store_n(counter, ++v, __ATOMIC_RELAXED);
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read stdin", NULL);
    }
    // Count before echoing: whoever sees the echo must also see the count.
    if (counter) __atomic_store_n(counter, *counter + (uint64_t)n, __ATOMIC_RELEASE);
    if (write_all(1, buf, (size_t)n) != 0) die("write stdout", NULL);
  }
  kill(0, SIGKILL);
  return 0;
}
