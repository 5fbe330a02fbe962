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

static inline void cfuse_set_cache_flags(struct fuse_file_info *fi, int keep_cache) {
    fi->keep_cache = keep_cache ? 1 : 0;
}
#endif
