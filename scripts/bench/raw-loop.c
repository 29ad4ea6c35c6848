// raw-loop: the physical limit of the cgroup freezer, measured in C, plus the
// workload that every method in the benchmark drives (so raw C and cgfreeze
// run against the same cgroup and the same tasks).
//
//   raw-loop workload <cgroup-dir> <ntasks> <counter-file>
//     Forks ntasks tasks into the cgroup: task 0 spins incrementing a 64-bit
//     counter in a shared mapping of counter-file (tmpfs), the rest sleep in
//     pause(). Prints "ready <pid0> ... \n" once all are in, then holds them
//     until stdin closes and kills them (thawing first is the caller's job).
//
//   raw-loop loop <cgroup-dir> <v1|v2> <counter-file> <cycles> <gap-us> <spinner-pid>
//                 [<warm-anchor-dir>]
//     Per cycle, one JSON line of nanoseconds:
//       freezeNs  write FROZEN/1, re-read until the kernel reports frozen
//       thawNs    the write of THAWED/0 alone
//       resumeNs  start of the thaw write until the counter moves again
//       cpuNs     this process's CPU time in the freeze wait + thaw write
//       cpuWaitNs the time the spinner (the task that moves the counter) and
//                 this process spent runnable but waiting for a CPU between
//                 the thaw and the resume (their schedstat run_delay, read
//                 outside the timed span): a preempted observer sees the
//                 resume late
//       warm      (with a warm anchor, a v1 cgroup that keepWarm holds frozen)
//                 1 if the anchor read FROZEN before the freeze and after the
//                 resume, so the kernel's freezer key stayed on: the sample ran
//                 warm as labelled. Read outside the timed spans.
//     The counter is observed with pread() on the file, the same way the
//     Node harness observes it, so the observation cost is equal on both sides.
//
//   raw-loop spin <counter-file> <ntasks>
//     The same workload inside a container (already in its cgroup): this
//     process spins on the counter and forks ntasks-1 idle tasks.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char* what, const char* path) {
  fprintf(stderr, "raw-loop: %s %s: %s\n", what, path ? path : "", strerror(errno));
  exit(2);
}

static uint64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_in(const char* dir, const char* name, int flags) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) die("open", path);
  return fd;
}

static volatile uint64_t* map_counter(const char* file, int create) {
  int fd = open(file, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
  if (fd < 0) die("open", file);
  if (create && ftruncate(fd, 4096) != 0) die("ftruncate", file);
  void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap", file);
  close(fd);
  return (volatile uint64_t*)p;
}

static int workload(const char* dir, int ntasks, const char* counter_file) {
  volatile uint64_t* counter = map_counter(counter_file, 1);
  pid_t* pids = calloc((size_t)ntasks, sizeof(pid_t));
  int procs = open_in(dir, "cgroup.procs", O_WRONLY);
  for (int i = 0; i < ntasks; i++) {
    pid_t pid = fork();
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (write(procs, "0", 1) != 1) die("write cgroup.procs", dir);
      if (i == 0) {
        for (;;) (*counter)++;
      }
      for (;;) pause();
    }
    pids[i] = pid;
  }
  close(procs);
  // Ready only once every task is in the cgroup: count cgroup.procs lines.
  for (int tries = 0;; tries++) {
    int fd = open_in(dir, "cgroup.procs", O_RDONLY);
    char buf[65536];
    int lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
      for (ssize_t k = 0; k < n; k++) lines += buf[k] == '\n';
    close(fd);
    if (lines >= ntasks) break;
    if (tries > 20000) {
      fprintf(stderr, "raw-loop: only %d of %d tasks joined %s\n", lines, ntasks, dir);
      return 2;
    }
    usleep(1000);
  }
  // The counter must be moving before anyone measures against it.
  uint64_t c0 = *counter;
  while (*counter == c0) usleep(100);
  printf("ready");
  for (int i = 0; i < ntasks && i < 16; i++) printf(" %d", pids[i]);
  printf("\n");
  fflush(stdout);
  char sink[256];
  while (read(0, sink, sizeof sink) > 0) {
  }
  for (int i = 0; i < ntasks; i++) kill(pids[i], SIGKILL);
  for (int i = 0; i < ntasks; i++) waitpid(pids[i], NULL, 0);
  return 0;
}

__attribute__((noreturn)) static void spin(const char* counter_file, int ntasks) {
  volatile uint64_t* counter = map_counter(counter_file, 1);
  for (int i = 1; i < ntasks; i++) {
    pid_t pid = fork();
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (;;) pause();
    }
  }
  for (;;) (*counter)++;
}

static uint64_t read_counter(int fd) {
  uint64_t v = 0;
  if (pread(fd, &v, sizeof v, 0) != (ssize_t)sizeof v) die("pread", "counter");
  return v;
}

static int is_frozen(int fd, int v2) {
  char buf[512];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n < 0) die("pread", "freezer state");
  buf[n] = 0;
  if (v2) return strstr(buf, "frozen 1") != NULL;
  return strncmp(buf, "FROZEN", 6) == 0;
}

// The task's time spent runnable on a run queue, waiting for a CPU (ns).
static uint64_t run_delay(int fd) {
  char buf[128];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n < 0) die("pread", "schedstat");
  buf[n] = 0;
  unsigned long long on_cpu, waited;
  if (sscanf(buf, "%llu %llu", &on_cpu, &waited) != 2) die("parse", "schedstat");
  return waited;
}

static void spin_us(uint64_t us) {
  uint64_t end = now_ns(CLOCK_MONOTONIC) + us * 1000;
  while (now_ns(CLOCK_MONOTONIC) < end) {
  }
}

static int loop(const char* dir, const char* mode, const char* counter_file, int cycles, int gap_us,
                const char* spinner_pid, const char* anchor) {
  int v2 = strcmp(mode, "v2") == 0;
  char schedstat[64];
  snprintf(schedstat, sizeof schedstat, "/proc/%s/schedstat", spinner_pid);
  int sfd = open(schedstat, O_RDONLY | O_CLOEXEC);
  if (sfd < 0) die("open", schedstat);
  int selffd = open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
  if (selffd < 0) die("open", "/proc/self/schedstat");
  int afd = anchor ? open_in(anchor, "freezer.state", O_RDONLY) : -1;
  int wfd = open_in(dir, v2 ? "cgroup.freeze" : "freezer.state", O_WRONLY);
  int rfd = open_in(dir, v2 ? "cgroup.events" : "freezer.state", O_RDONLY);
  int cfd = open(counter_file, O_RDONLY | O_CLOEXEC);
  if (cfd < 0) die("open", counter_file);
  const char* on = v2 ? "1" : "FROZEN";
  const char* off = v2 ? "0" : "THAWED";
  for (int i = 0; i < cycles; i++) {
    int warm = afd >= 0 && is_frozen(afd, 0);
    uint64_t cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    if (pwrite(wfd, on, strlen(on), 0) < 0) die("write", dir);
    while (!is_frozen(rfd, v2)) {
    }
    uint64_t t1 = now_ns(CLOCK_MONOTONIC);
    uint64_t cpu1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t c = read_counter(cfd);
    spin_us((uint64_t)gap_us);
    uint64_t waited0 = run_delay(sfd) + run_delay(selffd);
    uint64_t cpu2 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t t2 = now_ns(CLOCK_MONOTONIC);
    if (pwrite(wfd, off, strlen(off), 0) < 0) die("write", dir);
    uint64_t t3 = now_ns(CLOCK_MONOTONIC);
    uint64_t cpu3 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    while (read_counter(cfd) == c) {
    }
    uint64_t t4 = now_ns(CLOCK_MONOTONIC);
    uint64_t waited = run_delay(sfd) + run_delay(selffd) - waited0;
    warm = warm && afd >= 0 && is_frozen(afd, 0);
    printf("{\"freezeNs\":%" PRIu64 ",\"thawNs\":%" PRIu64 ",\"resumeNs\":%" PRIu64
           ",\"cpuNs\":%" PRIu64 ",\"cpuWaitNs\":%" PRIu64,
           t1 - t0, t3 - t2, t4 - t2, (cpu1 - cpu0) + (cpu3 - cpu2), waited);
    if (afd >= 0) printf(",\"warm\":%d", warm);
    printf("}\n");
    spin_us((uint64_t)gap_us);
  }
  fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "workload") == 0)
    return workload(argv[2], atoi(argv[3]), argv[4]);
  if ((argc == 8 || argc == 9) && strcmp(argv[1], "loop") == 0)
    return loop(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]), argv[7],
                argc == 9 ? argv[8] : NULL);
  if (argc == 4 && strcmp(argv[1], "spin") == 0) spin(argv[2], atoi(argv[3]));
  fprintf(stderr,
          "usage: raw-loop workload <cgroup-dir> <ntasks> <counter-file>\n"
          "       raw-loop loop <cgroup-dir> <v1|v2> <counter-file> <cycles> <gap-us> "
          "<spinner-pid> [<warm-anchor-dir>]\n"
          "       raw-loop spin <counter-file> <ntasks>\n");
  return 64;
}
