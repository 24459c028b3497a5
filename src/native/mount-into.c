/*
 * cbs-mount-into: mounts a volume into a running container's mount namespace, and takes it out
 * again, without anything the container controls on the way.
 *
 *   cbs-mount-into attach PID START_TIME SOURCE TARGET   prints "MOUNT_ID PATH" of the new mount
 *   cbs-mount-into detach PID START_TIME TARGET MOUNT_ID  unmounts TARGET only if it is that mount
 *
 * PID is the container's process, START_TIME its start time (field 22 of /proc/PID/stat).
 *
 * attach clones the host's mount of the volume (open_tree), makes the clone private, joins the container's mount
 * namespace (setns: a process of its own, since a multi-threaded one such as Node cannot), finds
 * or makes the target with openat2(RESOLVE_IN_ROOT) so that every symlink resolves inside the
 * container's root, and attaches the clone to the directory it opened (move_mount): no device
 * node, and no path looked up twice. cbs then checks /proc/PID/mountinfo itself.
 * Errors: one line on stderr; "busy" and "not mounted" are words cbs looks for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <unistd.h>

/* Same numbers on x86_64 and the generic table (aarch64). */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

struct open_how_v0 {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
struct mount_attr_v0 {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10

static const char *step = "cbs-mount-into";

static void fail(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", step, what, strerror(errno));
  exit(1);
}

static void refuse(const char *why) {
  fprintf(stderr, "%s: %s\n", step, why);
  exit(1);
}

/* Opens `path` (relative to the container's root) as O_PATH, symlinks resolved inside that root. */
static int open_in_root(int root, const char *path, uint64_t resolve) {
  struct open_how_v0 how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve};
  return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
}

/* Whether the process behind /proc/PID (dir) started at `start` (field 22 of its stat, in ticks). */
static void check_start(int dir, const char *start) {
  char stat[1024];
  int fd = openat(dir, "stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) refuse("the container's process is gone");
  ssize_t length = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (length <= 0) refuse("the container's process is gone");
  stat[length] = '\0';
  /* The command name (field 2) may hold spaces: count from after its ')'. */
  char *field = strrchr(stat, ')');
  for (int number = 2; field != NULL && number < 22; number++) field = strchr(field + 1, ' ');
  if (field == NULL || strncmp(field + 1, start, strlen(start)) != 0 || field[1 + strlen(start)] != ' ') {
    refuse("the container's process is gone (its pid now belongs to another process)");
  }
}

/*
 * Joins the mount namespace of PID, which must be the process that started at START: its
 * namespace is opened through the same /proc/PID folder the start time is read from after, so a
 * pid reused meanwhile is never entered. The process's root and working folder become the
 * namespace's root.
 */
static void enter(const char *pid, const char *start) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s", pid);
  int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) refuse("the container's process is gone");
  int ns = openat(dir, "ns/mnt", O_RDONLY | O_CLOEXEC);
  if (ns < 0) fail("open the container's mount namespace");
  check_start(dir, start);
  if (setns(ns, CLONE_NEWNS) < 0) fail("join the container's mount namespace");
  close(ns);
  close(dir);
}

/* Private: nothing mounted later under the volume on the host, or in the container, crosses over. */
static void make_private(int tree) {
  struct mount_attr_v0 attr = {.propagation = MS_PRIVATE};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) fail("make the clone private");
}

/* The path of an open folder as seen from this process's root, through the host's /proc. */
static void path_of(int proc, int fd, char *out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "self/fd/%d", fd);
  ssize_t length = readlinkat(proc, link, out, size - 1);
  if (length < 0) fail("read the target's path");
  out[length] = '\0';
}

/* proc and sysfs files steer the kernel and the runtime: a volume is never mounted over them. */
static void refuse_kernel_filesystems(int fd) {
  struct statfs fs;
  if (fstatfs(fd, &fs) < 0) fail("statfs the target");
  if (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC) refuse("the target is inside /proc or /sys of the container");
}

/* Opens the target, making the folders that are missing (0755), one component at a time. */
static int open_target(int root, const char *target) {
  char prefix[PATH_MAX];
  if (strlen(target) >= sizeof prefix) refuse("the target is too long");
  int parent = dup(root);
  const char *cursor = target;
  for (;;) {
    while (*cursor == '/') cursor++;
    if (*cursor == '\0') return parent;
    const char *end = strchrnul(cursor, '/');
    memcpy(prefix, target, (size_t)(end - target));
    prefix[end - target] = '\0';
    int fd = open_in_root(root, prefix, 0);
    if (fd < 0 && errno == ENOENT) {
      char name[NAME_MAX + 1];
      if ((size_t)(end - cursor) > NAME_MAX) refuse("a name in the target is too long");
      memcpy(name, cursor, (size_t)(end - cursor));
      name[end - cursor] = '\0';
      if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST) fail("make the target folder");
      fd = open_in_root(root, prefix, 0);
    }
    if (fd < 0) fail("open the target folder");
    close(parent);
    parent = fd;
    cursor = end;
  }
}

static int attach(const char *pid, const char *start, const char *source, const char *target) {
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) fail("clone the volume's mount");
  make_private(tree);
  struct statx mount;
  if (statx(tree, "", AT_EMPTY_PATH, STATX_MNT_ID, &mount) < 0 || !(mount.stx_mask & STATX_MNT_ID)) fail("read the mount id");
  int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) fail("open /proc");
  enter(pid, start);
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail("open the container's root");
  int at = open_target(root, target);
  refuse_kernel_filesystems(at);
  char where[PATH_MAX];
  path_of(proc, at, where, sizeof where);
  if (strcmp(where, "/") == 0) refuse("the target is the container's root");
  /* Symlinks may lead to a name with a newline: cbs reads the path back as one line. */
  for (const char *at = where; *at; at++) {
    if ((unsigned char)*at < 0x20 || *at == 0x7f) refuse("the target resolves to a path with control characters");
  }
  if (syscall(SYS_move_mount, tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail("mount the volume on the target");
  printf("%llu %s\n", (unsigned long long)mount.stx_mnt_id, where);
  return 0;
}

static int detach(const char *pid, const char *start, const char *target, const char *id) {
  char *end;
  unsigned long long wanted = strtoull(id, &end, 10);
  if (*id == '\0' || *end != '\0') refuse("the mount id is not a number");
  const char *slash = strrchr(target, '/');
  if (target[0] != '/' || slash == NULL || slash[1] == '\0') refuse("the target must be an absolute path to a folder");
  char parent_path[PATH_MAX];
  if ((size_t)(slash - target) >= sizeof parent_path) refuse("the target is too long");
  memcpy(parent_path, target, (size_t)(slash - target));
  parent_path[slash - target] = '\0';
  const char *name = slash + 1;
  enter(pid, start);
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail("open the container's root");
  /* The recorded target is the path the kernel reported: no symlink on the way to it. */
  int parent = parent_path[0] == '\0' ? dup(root) : open_in_root(root, parent_path, RESOLVE_NO_SYMLINKS);
  if (parent < 0) {
    if (errno == ENOENT) refuse("not mounted (the target's folder is gone)");
    fail("open the target's folder");
  }
  struct statx mount;
  if (statx(parent, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &mount) < 0) {
    if (errno == ENOENT) refuse("not mounted (the target is gone)");
    fail("stat the target");
  }
  if (!(mount.stx_attributes & STATX_ATTR_MOUNT_ROOT) || mount.stx_mnt_id != wanted) refuse("not mounted: the target is not the mount cbs made");
  /* A mountpoint cannot be renamed or removed in its own namespace: `name` stays this mount. */
  if (fchdir(parent) < 0) fail("enter the target's folder");
  if (umount2(name, UMOUNT_NOFOLLOW) < 0) {
    if (errno == EBUSY) refuse("busy: files on the target are in use");
    fail("unmount the target");
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "attach") == 0) return attach(argv[2], argv[3], argv[4], argv[5]);
  if (argc == 6 && strcmp(argv[1], "detach") == 0) return detach(argv[2], argv[3], argv[4], argv[5]);
  fprintf(stderr, "usage: cbs-mount-into attach PID START_TIME SOURCE TARGET | detach PID START_TIME TARGET MOUNT_ID\n");
  return 2;
}
