/*
 * cgfreeze test workload: a task that can never be frozen.
 *
 *   fuse-stall --mount DIR --cgroup CGDIR
 *
 * A FUSE server speaking /dev/fuse directly. It mounts DIR in a private mount
 * namespace of its own (so no other process on the machine can trip over the
 * dead mount, e.g. a `df`), answers FUSE_INIT and never reads /dev/fuse again.
 * It then forks one child that joins CGDIR and stats DIR/stuck: the lookup
 * sits unread in the FUSE queue, so the child waits in request_wait_answer, a
 * killable wait that no freezer can park. Because the request is never read,
 * SIGKILL still ends the child. The server itself stays in its own cgroup.
 *
 * Prints "stuck <child pid>\n" once the child is forked. SIGTERM, SIGINT or
 * the death of our parent: kill the child, lazy-unmount, exit 0.
 * Exit status 2: bad usage or setup failure (reason on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *mount_dir;
static volatile pid_t child;

static void die(const char *what, const char *arg) {
  fprintf(stderr, "fuse-stall: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  if (child > 0) kill(child, SIGKILL);
  _exit(2);
}

static void usage(const char *why) {
  fprintf(stderr, "fuse-stall: %s\nusage: fuse-stall --mount DIR --cgroup CGDIR\n", why);
  _exit(2);
}

static void teardown(int sig) {
  (void)sig;
  if (child > 0) kill(child, SIGKILL);
  umount2(mount_dir, MNT_DETACH);
  _exit(0);
}

/* The kernel refuses reads smaller than the largest request it may send. */
static char request[FUSE_MIN_READ_BUFFER + (1 << 20)];

static void answer_init(int fuse) {
  ssize_t n;
  do n = read(fuse, request, sizeof request);
  while (n < 0 && errno == EINTR);
  if (n < (ssize_t)(sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in))) die("read FUSE_INIT", NULL);
  const struct fuse_in_header *in = (const struct fuse_in_header *)request;
  const struct fuse_init_in *init = (const struct fuse_init_in *)(request + sizeof *in);
  if (in->opcode != FUSE_INIT) {
    errno = EPROTO;
    die("first request is not FUSE_INIT", NULL);
  }
  struct {
    struct fuse_out_header head;
    struct fuse_init_out body;
  } reply;
  memset(&reply, 0, sizeof reply);
  reply.head.len = sizeof reply;
  reply.head.unique = in->unique;
  reply.body.major = FUSE_KERNEL_VERSION;
  reply.body.minor = init->minor < FUSE_KERNEL_MINOR_VERSION ? init->minor : FUSE_KERNEL_MINOR_VERSION;
  reply.body.max_write = 4096;
  if (write(fuse, &reply, sizeof reply) != (ssize_t)sizeof reply) die("answer FUSE_INIT", NULL);
}

static void join_cgroup(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path) _exit(2);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "0", 1) != 1) {
    fprintf(stderr, "fuse-stall: cannot join %s: %s\n", dir, strerror(errno));
    _exit(2);
  }
  close(fd);
}

int main(int argc, char **argv) {
  const char *cgroup = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage("missing value");
    const char *opt = argv[i], *val = argv[++i];
    if (strcmp(opt, "--mount") == 0) mount_dir = val;
    else if (strcmp(opt, "--cgroup") == 0) cgroup = val;
    else usage("unknown option");
  }
  if (mount_dir == NULL || cgroup == NULL) usage("--mount and --cgroup are required");
  char target[4096];
  if (snprintf(target, sizeof target, "%s/stuck", mount_dir) >= (int)sizeof target) usage("mount path too long");

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = teardown;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) die("prctl", NULL);
  if (getppid() == 1) _exit(0);
  signal(SIGCHLD, SIG_IGN);

  if (unshare(CLONE_NEWNS) != 0) die("unshare mount namespace", NULL);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make mounts private", NULL);
  int fuse = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fuse < 0) die("open", "/dev/fuse");
  char opts[128];
  snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", fuse);
  if (mount("cgf-wl-fuse", mount_dir, "fuse", MS_NOSUID | MS_NODEV, opts) != 0) die("mount fuse on", mount_dir);
  answer_init(fuse);

  pid_t server = getpid();
  pid_t pid = fork();
  if (pid < 0) die("fork", NULL);
  if (pid == 0) {
    /* Holding the device open would keep the connection alive past the server. */
    close(fuse);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != server) _exit(2);
    join_cgroup(cgroup);
    struct stat st;
    stat(target, &st);
    /* Only an aborted connection gets here. */
    _exit(3);
  }
  child = pid;
  printf("stuck %d\n", (int)pid);
  fflush(stdout);
  for (;;) pause();
}
