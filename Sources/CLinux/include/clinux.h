#ifndef DOFS_CLINUX_H
#define DOFS_CLINUX_H
/* Linux calls and flags Glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not set. */
int clinux_syncfs(int fd);
/* The O_DIRECT open flag: writes that go to the disk without passing through the page cache. */
int clinux_o_direct(void);
#endif
