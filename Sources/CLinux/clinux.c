#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include "clinux.h"

int clinux_syncfs(int fd) { return syncfs(fd); }

int clinux_o_direct(void) { return O_DIRECT; }

int clinux_punch_hole(int fd, long offset, long length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

#include <malloc.h>
int clinux_malloc_keep_freed(long largest_heap_allocation, long kept_free_bytes, int arenas) {
    if (mallopt(M_MMAP_THRESHOLD, (int)largest_heap_allocation) != 1) return -1;
    if (mallopt(M_TRIM_THRESHOLD, (int)kept_free_bytes) != 1) return -1;
    if (arenas > 0 && mallopt(M_ARENA_MAX, arenas) != 1) return -1;
    return 0;
}
