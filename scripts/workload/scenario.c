// Process shapes for the kernel freezer selftest scenarios, placed in a cgroup:
//   scenario --cgroup DIR vfork       a parent blocked in vfork() plus its child
//   scenario --cgroup DIR forkstorm   endless fork + exec(/bin/true) churn, 16 at a time
//   scenario --cgroup DIR tracer PID  a ptrace tracer of PID, driven by stdin commands:
//                                     interrupt | getsiginfo | detach  -> "ok" or "err <errno>"
// Prints "ready" on stdout once in place. Leads its own process group and dies
// with its parent (PR_SET_PDEATHSIG), so nothing outlives the test.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "scenario: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void enter_cgroup(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "0", 1) != 1) die(path);
  close(fd);
}

static void ready(void) {
  fputs("ready\n", stdout);
  fflush(stdout);
}

static int run_vfork(void) {
  // The child may not return or touch the parent's stack: it announces itself and sleeps forever.
  pid_t pid = vfork();
  if (pid < 0) die("vfork");
  if (pid == 0) {
    static const char msg[] = "ready\n";
    if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) _exit(1);
    for (;;) pause();
  }
  for (;;) pause();  // never reached while the child lives
}

static int run_forkstorm(void) {
  ready();
  int live = 0;
  for (;;) {
    while (live < 16) {
      pid_t pid = fork();
      if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(0);
      }
      if (pid > 0) live++;
      else break;
    }
    if (waitpid(-1, NULL, 0) > 0) live--;
  }
}

static int run_tracer(pid_t pid) {
  if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) != 0) die("PTRACE_SEIZE");
  ready();
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    int rc = 0;
    if (strncmp(line, "interrupt", 9) == 0) {
      rc = ptrace(PTRACE_INTERRUPT, pid, NULL, NULL);
      if (rc == 0) {
        alarm(10);  // a tracee that cannot stop must not hang the test forever
        rc = waitpid(pid, NULL, __WALL) == pid ? 0 : -1;
        alarm(0);
      }
    } else if (strncmp(line, "getsiginfo", 10) == 0) {
      siginfo_t info;
      rc = ptrace(PTRACE_GETSIGINFO, pid, NULL, &info);
    } else if (strncmp(line, "detach", 6) == 0) {
      rc = ptrace(PTRACE_DETACH, pid, NULL, NULL);
    } else {
      errno = EINVAL;
      rc = -1;
    }
    if (rc == 0) printf("ok\n");
    else printf("err %d\n", errno);
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[1], "--cgroup") != 0) {
    fprintf(stderr, "usage: scenario --cgroup DIR vfork|forkstorm|tracer PID\n");
    return 2;
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl");
  if (getppid() == 1) return 1;  // the parent died before prctl took effect
  setpgid(0, 0);
  enter_cgroup(argv[2]);
  if (strcmp(argv[3], "vfork") == 0) return run_vfork();
  if (strcmp(argv[3], "forkstorm") == 0) return run_forkstorm();
  if (strcmp(argv[3], "tracer") == 0 && argc == 5) return run_tracer((pid_t)atoi(argv[4]));
  fprintf(stderr, "scenario: unknown mode %s\n", argv[3]);
  return 2;
}
