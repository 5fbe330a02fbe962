/*
 * bench/fuse-ceiling/walk-times.c — what a reader of a tree waits for, call by call.
 *
 * Reads every file named on standard input (one path a line), as `cat` would: open, reads of 128 KiB
 * to the end, close. Prints one line a file, in microseconds:
 *
 *   OPEN FIRST_READ ALL_READS CLOSE
 *
 * so that the waits of a cold walk through dofs and through the do-nothing server (tree-ceiling.c)
 * compare per call: their medians and tails, not only the walk's total.
 *
 *   (cd MOUNTPOINT && find . -type f | sort | walk-times) > times.txt
 *
 * Build: gcc -O2 -o walk-times walk-times.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(void) {
    static char buf[128 << 10];
    char path[4096];
    while (fgets(path, sizeof path, stdin)) {
        path[strcspn(path, "\n")] = 0;
        double t0 = now_us();
        int fd = open(path, O_RDONLY);
        double opened = now_us();
        if (fd < 0) {
            perror(path);
            return 1;
        }
        double first = 0;
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            if (first == 0) first = now_us();
        }
        if (n < 0) {
            perror(path);
            return 1;
        }
        double done = now_us();
        close(fd);
        double closed = now_us();
        if (first == 0) first = done;  /* an empty file: its one read returned 0 */
        printf("%.1f %.1f %.1f %.1f\n", opened - t0, first - opened, done - opened, closed - done);
    }
    return 0;
}
