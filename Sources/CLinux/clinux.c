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

#include <sys/resource.h>
#include <sys/syscall.h>
/* ioprio_set has no glibc wrapper; these are the kernel's values (include/uapi/linux/ioprio.h). */
#define CLINUX_IOPRIO_WHO_PROCESS 1
#define CLINUX_IOPRIO_CLASS_IDLE 3
#define CLINUX_IOPRIO_CLASS_SHIFT 13
int clinux_background_thread(void) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int cpu = setpriority(PRIO_PROCESS, (id_t)tid, 19);
    int io = (int)syscall(SYS_ioprio_set, CLINUX_IOPRIO_WHO_PROCESS, tid,
                          CLINUX_IOPRIO_CLASS_IDLE << CLINUX_IOPRIO_CLASS_SHIFT);
    return cpu == 0 && io == 0 ? 0 : -1;
}
