/*
 * bench/fuse-ceiling/ceiling.c — the fastest read a libfuse3 file system can give on this machine.
 *
 * Serves one read-only file, /data, whose bytes are a local file's, with nothing between a read and
 * its reply: no lookup of pieces, no hashing, no bookkeeping. It mounts the way dofs mounts (read-only,
 * multithreaded loop of 8 workers, splice capabilities, keep_cache, the same kernel readahead), so what
 * it reaches is the ceiling of dofs's warm and second reads, not a target for them to beat.
 *
 *   ceiling MOUNTPOINT FILE memory   replies from a copy of FILE in this process's memory (fuse_reply_buf),
 *                                    as dofs replies from pieces it holds
 *   ceiling MOUNTPOINT FILE fd       replies by splicing from FILE (fuse_reply_data), as dofs replies from
 *                                    its piece files; FILE's pages are wherever the page cache left them
 *
 * Runs in the foreground until unmounted (fusermount3 -u MOUNTPOINT) or signalled.
 * Build: gcc -O2 -o ceiling ceiling.c $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 314
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA_INO 2

static int data_fd = -1;
static char *data_mem; /* NULL in fd mode */
static off_t data_size;

static void fill_stat(fuse_ino_t ino, struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = data_size;
    }
}

static void ceiling_init(void *userdata, struct fuse_conn_info *conn) {
    (void)userdata;
    conn->want |= conn->capable & (FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

static void ceiling_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
    if (parent != FUSE_ROOT_ID || strcmp(name, "data") != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = DATA_INO;
    e.attr_timeout = e.entry_timeout = 3600;
    fill_stat(DATA_INO, &e.attr);
    fuse_reply_entry(req, &e);
}

static void ceiling_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void)fi;
    if (ino != FUSE_ROOT_ID && ino != DATA_INO) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    fill_stat(ino, &st);
    fuse_reply_attr(req, &st, 3600);
}

static void ceiling_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    if (ino != DATA_INO) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void ceiling_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)ino; (void)fi;
    if (off >= data_size) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    if ((off_t)size > data_size - off) size = (size_t)(data_size - off);
    if (data_mem) {
        fuse_reply_buf(req, data_mem + off, size);
        return;
    }
    reply_from_file(req, data_fd, off, size);
}

static const struct fuse_lowlevel_ops ops = {
    .init = ceiling_init,
    .lookup = ceiling_lookup,
    .getattr = ceiling_getattr,
    .open = ceiling_open,
    .read = ceiling_read,
};

static int load(const char *path, int in_memory) {
    data_fd = open(path, O_RDONLY);
    if (data_fd < 0) { perror(path); return -1; }
    struct stat st;
    if (fstat(data_fd, &st) != 0) { perror(path); return -1; }
    data_size = st.st_size;
    if (!in_memory) return 0;
    data_mem = malloc((size_t)data_size);
    if (!data_mem) { fprintf(stderr, "ceiling: no memory for %lld bytes\n", (long long)data_size); return -1; }
    for (off_t done = 0; done < data_size;) {
        ssize_t n = pread(data_fd, data_mem + done, (size_t)(data_size - done), done);
        if (n <= 0) { perror(path); return -1; }
        done += n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[3], "memory") != 0 && strcmp(argv[3], "fd") != 0)) {
        fprintf(stderr, "usage: %s MOUNTPOINT FILE memory|fd\n", argv[0]);
        return 64;
    }
    if (load(argv[2], strcmp(argv[3], "memory") == 0) != 0) return 1;

    return serve(argv[0], "ceiling", argv[1], &ops);
}
