#ifndef DOFS_CLINUX_H
#define DOFS_CLINUX_H
/* Linux calls Glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not set. */
int clinux_syncfs(int fd);
#endif
