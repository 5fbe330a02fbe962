#ifndef DOFS_CLINUX_H
#define DOFS_CLINUX_H
/* Linux calls and flags Glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not set. */
int clinux_syncfs(int fd);
/* The O_DIRECT open flag: writes that go to the disk without passing through the page cache. */
int clinux_o_direct(void);
/* Frees the disk blocks of `length` bytes at `offset` (they read as zeros after), keeping the file's size.
   0 on success, -1 with errno (EOPNOTSUPP where the file system cannot). */
int clinux_punch_hole(int fd, long offset, long length);
/* glibc malloc: allocations up to `largest_heap_allocation` bytes come from the heap (not a fresh
   mmap each), up to `kept_free_bytes` of freed memory stay mapped for reuse, and at most `arenas`
   heaps are made (0: glibc's default). 0 on success. */
int clinux_malloc_keep_freed(long largest_heap_allocation, long kept_free_bytes, int arenas);
/* Makes the calling thread yield to every other: nice 19 and the idle I/O class (it gets the CPU and
   the disk only when nobody else wants them). 0 on success, -1 if either was refused. */
int clinux_background_thread(void);
#endif
