/*
 * bench/fuse-ceiling/serve.h — how the ceiling servers mount and run: as dofs does (read-only, a
 * multithreaded loop of 8 workers, the same kernel readahead once the mount answers).
 */
#ifndef CEILING_SERVE_H
#define CEILING_SERVE_H

#include <fuse_lowlevel.h>

#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define READAHEAD_KB 4096 /* dofs's default kernelReadaheadKB */
#define WORKERS 8         /* dofs's default maxThreads */

/* The kernel's readahead for this mount, as dofs sets it once the mount answers. */
static void set_readahead(const char *mountpoint) {
    struct stat st;
    if (stat(mountpoint, &st) != 0) return;
    char path[96];
    snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%d\n", READAHEAD_KB);
    fclose(f);
}

/* Replies `size` bytes of `fd` at `off`, spliced from its pages as dofs replies from a piece file. */
static void reply_from_file(fuse_req_t req, int fd, off_t off, size_t size) {
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = fd;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* Mounts `ops` on `mountpoint` as `name`, prints "ready" once it answers, and serves until unmounted
 * or signalled; the process's exit status. */
static int serve(const char *prog, const char *name, const char *mountpoint, const struct fuse_lowlevel_ops *ops) {
    char options[160];
    snprintf(options, sizeof options, "ro,fsname=%s,subtype=%s,default_permissions", name, name);
    char *fuse_argv[] = { (char *)prog, "-o", options, NULL };
    struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
    struct fuse_session *se = fuse_session_new(&args, ops, sizeof *ops, NULL);
    if (!se) return 1;
    if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mountpoint) != 0) {
        fuse_session_destroy(se);
        return 1;
    }
    /* The mount answers only once the loop runs: a child sets readahead after that and says ready. */
    if (fork() == 0) {
        set_readahead(mountpoint);
        printf("ready\n");
        fflush(stdout);
        _exit(0);
    }
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, WORKERS);
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return rc == 0 ? 0 : 1;
}

#endif
