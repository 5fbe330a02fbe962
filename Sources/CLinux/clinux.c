#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include "clinux.h"

int clinux_syncfs(int fd) { return syncfs(fd); }

int clinux_o_direct(void) { return O_DIRECT; }
