#ifndef DOFS_CFUSE3_SHIM_H
#define DOFS_CFUSE3_SHIM_H
#define FUSE_USE_VERSION 314
#include <stddef.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>

/* FUSE_BUFVEC_INIT is a macro Swift cannot import: build the one-buffer vectors here. */
static inline struct fuse_bufvec cfuse_bufvec_fd(int fd, off_t pos, size_t size) {
    struct fuse_bufvec v = FUSE_BUFVEC_INIT(size);
    v.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    v.buf[0].fd = fd;
    v.buf[0].pos = pos;
    return v;
}

/* Puts `size` bytes at `offset` of inode `ino` into the kernel's page cache (FUSE_NOTIFY_STORE); 0 or -errno
   (-ENOENT when the kernel holds no such inode). */
static inline int cfuse_notify_store(struct fuse_session *se, fuse_ino_t ino, off_t offset, const void *mem, size_t size) {
    struct fuse_bufvec v = FUSE_BUFVEC_INIT(size);
    v.buf[0].mem = (void *)mem;
    return fuse_lowlevel_notify_store(se, ino, offset, &v, (enum fuse_buf_copy_flags)0);
}

static inline void cfuse_set_cache_flags(struct fuse_file_info *fi, int keep_cache) {
    fi->keep_cache = keep_cache ? 1 : 0;
}

/* libfuse 3.17 made fuse_session_new a macro (it passes the headers' version along). */
static inline struct fuse_session *cfuse_session_new(struct fuse_args *args, const struct fuse_lowlevel_ops *ops,
                                                     size_t ops_size, void *userdata) {
    return fuse_session_new(args, ops, ops_size, userdata);
}

/* FUSE passthrough (libfuse >= 3.16, which defines FUSE_CAP_PASSTHROUGH): reads of a file opened with a
   backing id go from the kernel to the backing file, never to this process. Built against an older
   libfuse, the calls below report it unavailable and nothing else changes. */
#ifdef FUSE_CAP_PASSTHROUGH
/* Asks for passthrough when the kernel offers it; 1 if asked. A backing file may itself be on a
   stacked file system (overlayfs, as in containers): one level of stacking below. */
static inline int cfuse_want_passthrough(struct fuse_conn_info *conn) {
    if (!(conn->capable & FUSE_CAP_PASSTHROUGH)) return 0;
    conn->want |= FUSE_CAP_PASSTHROUGH;
    conn->max_backing_stack_depth = 1;
    return 1;
}
/* Registers `fd` with the kernel; a backing id > 0, or 0 on failure (errno set). */
static inline int cfuse_passthrough_open(fuse_req_t req, int fd) { return fuse_passthrough_open(req, fd); }
static inline int cfuse_passthrough_close(fuse_req_t req, int backing_id) { return fuse_passthrough_close(req, backing_id); }
static inline void cfuse_set_backing_id(struct fuse_file_info *fi, int backing_id) { fi->backing_id = backing_id; }
#else
static inline int cfuse_want_passthrough(struct fuse_conn_info *conn) { (void)conn; return 0; }
static inline int cfuse_passthrough_open(fuse_req_t req, int fd) { (void)req; (void)fd; errno = ENOSYS; return 0; }
static inline int cfuse_passthrough_close(fuse_req_t req, int backing_id) { (void)req; (void)backing_id; return -ENOSYS; }
static inline void cfuse_set_backing_id(struct fuse_file_info *fi, int backing_id) { (void)fi; (void)backing_id; }
#endif
#endif
