/*
 * bench/fuse-ceiling/tree-ceiling.c — the fastest libfuse3 file system for a tree of small files here.
 *
 * Serves a local folder's tree read-only with nothing between a request and its reply: the tree is
 * walked once at start (names, sizes, dates in memory), a read is spliced from the local file, as
 * dofs replies from its piece packs. It mounts and answers the way dofs does for a catalog (read-only,
 * 8 workers, READDIRPLUS on every listing, keep_cache, splice, the same kernel readahead), so the time
 * of a `cat` of every file through it is the ceiling of dofs's small-file reads, warm or cold: what
 * FUSE round trips alone cost a reader that opens files one after another.
 *
 *   tree-ceiling MOUNTPOINT DIR open     answers every open (as dofs does: one OPEN round trip a file)
 *   tree-ceiling MOUNTPOINT DIR noopen   answers the first open with ENOSYS, so the kernel sends no
 *                                        more OPEN or RELEASE (FUSE_NO_OPEN_SUPPORT): what dropping
 *                                        opens would give
 *
 * Prints "ready" once the mount answers; runs until unmounted (fusermount3 -u MOUNTPOINT) or signalled.
 * Build: gcc -O2 -o tree-ceiling tree-ceiling.c $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 314
#define _GNU_SOURCE
#include "serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIMEOUT 3600.0    /* dofs's attribute timeout */

/* One file or folder; inode = index + 1 (the root is inode 1, FUSE_ROOT_ID). */
struct node {
    char *path;
    char *name;
    struct stat st;
    size_t parent, first_child, next_sibling; /* indexes + 1; 0: none */
    int fd;                                   /* opened on first use, kept: -1 until then */
};

static struct node *nodes;
static size_t node_count, node_room;
static int answer_opens = 1;

static size_t add_node(const char *path, const char *name, size_t parent) {
    if (node_count == node_room) {
        node_room = node_room ? node_room * 2 : 1024;
        nodes = realloc(nodes, node_room * sizeof *nodes);
        if (!nodes) { perror("realloc"); exit(1); }
    }
    struct node *n = &nodes[node_count];
    memset(n, 0, sizeof *n);
    n->path = strdup(path);
    n->name = strdup(name);
    n->parent = parent;
    n->fd = -1;
    if (lstat(path, &n->st) != 0) { perror(path); exit(1); }
    node_count++;
    return node_count; /* its inode */
}

/* Walks `path` (already node `ino`), children in name order as dofs lists a catalog folder. */
static void walk(size_t ino) {
    struct dirent **names;
    char *path = strdup(nodes[ino - 1].path);
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) { perror(path); exit(1); }
    size_t last = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, name);
            size_t c = add_node(child, name, ino);
            if (last) nodes[last - 1].next_sibling = c; else nodes[ino - 1].first_child = c;
            last = c;
            if (S_ISDIR(nodes[c - 1].st.st_mode)) walk(c);
        }
        free(names[i]);
    }
    free(names);
    free(path);
}

static struct node *node_of(fuse_ino_t ino) { return ino >= 1 && ino <= node_count ? &nodes[ino - 1] : NULL; }

static void fill_entry(size_t ino, struct fuse_entry_param *e) {
    memset(e, 0, sizeof *e);
    e->ino = ino;
    e->generation = 1;
    e->attr = nodes[ino - 1].st;
    e->attr.st_ino = ino;
    e->attr_timeout = e->entry_timeout = TIMEOUT;
}

static void tc_init(void *userdata, struct fuse_conn_info *conn) {
    (void)userdata;
    conn->want |= conn->capable & (FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_READDIRPLUS);
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void tc_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
    struct node *p = node_of(parent);
    for (size_t c = p ? p->first_child : 0; c; c = nodes[c - 1].next_sibling) {
        if (strcmp(nodes[c - 1].name, name) == 0) {
            struct fuse_entry_param e;
            fill_entry(c, &e);
            fuse_reply_entry(req, &e);
            return;
        }
    }
    fuse_reply_err(req, ENOENT);
}

static void tc_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void)fi;
    struct node *n = node_of(ino);
    if (!n) { fuse_reply_err(req, ENOENT); return; }
    struct stat st = n->st;
    st.st_ino = ino;
    fuse_reply_attr(req, &st, TIMEOUT);
}

/* Listing offsets: 1 and 2 are "." and "..", 2 + k the k-th child. */
static void list(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus) {
    struct node *d = node_of(ino);
    if (!d || !S_ISDIR(d->st.st_mode)) { fuse_reply_err(req, ENOTDIR); return; }
    char *buf = malloc(size);
    size_t used = 0;
    off_t at = 0;
    size_t c = d->first_child;
    for (; at < 2 + (off_t)node_count; at++) {
        const char *name;
        size_t child = 0;
        if (at == 0) name = ".";
        else if (at == 1) name = "..";
        else {
            if (!c) break;
            child = c;
            name = nodes[c - 1].name;
            c = nodes[c - 1].next_sibling;
        }
        if (at < off) continue;
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        e.attr.st_mode = child ? nodes[child - 1].st.st_mode : S_IFDIR;
        e.attr.st_ino = child ? child : ino;
        if (child && plus) fill_entry(child, &e);
        size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, at + 1)
                           : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, at + 1);
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void tc_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)fi;
    list(req, ino, size, off, 0);
}

static void tc_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)fi;
    list(req, ino, size, off, 1);
}

/* The node's local file, opened once (both modes read through it; with noopen there is no handle). */
static int file_of(struct node *n) {
    int fd = __atomic_load_n(&n->fd, __ATOMIC_ACQUIRE);
    if (fd >= 0) return fd;
    fd = open(n->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int none = -1;
    if (!__atomic_compare_exchange_n(&n->fd, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        close(fd);
        fd = none;
    }
    return fd;
}

static void tc_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    struct node *n = node_of(ino);
    if (!n) { fuse_reply_err(req, ENOENT); return; }
    if (!answer_opens) { fuse_reply_err(req, ENOSYS); return; }
    if (S_ISDIR(n->st.st_mode)) { fuse_reply_err(req, EISDIR); return; }
    if (file_of(n) < 0) { fuse_reply_err(req, errno); return; }
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void tc_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)fi;
    struct node *n = node_of(ino);
    int fd = n ? file_of(n) : -1;
    if (fd < 0) { fuse_reply_err(req, n ? errno : ENOENT); return; }
    reply_from_file(req, fd, off, size);
}

static const struct fuse_lowlevel_ops ops = {
    .init = tc_init,
    .lookup = tc_lookup,
    .getattr = tc_getattr,
    .readdir = tc_readdir,
    .readdirplus = tc_readdirplus,
    .open = tc_open,
    .read = tc_read,
};

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[3], "open") != 0 && strcmp(argv[3], "noopen") != 0)) {
        fprintf(stderr, "usage: %s MOUNTPOINT DIR open|noopen\n", argv[0]);
        return 64;
    }
    answer_opens = strcmp(argv[3], "open") == 0;
    /* Every file's descriptor stays open: room for all of them. */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) { lim.rlim_cur = lim.rlim_max; setrlimit(RLIMIT_NOFILE, &lim); }
    add_node(argv[2], "", 0);
    walk(1);

    return serve(argv[0], "tree-ceiling", argv[1], &ops);
}
