#ifndef DOFS_COPENSSL_SHIM_H
#define DOFS_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/err.h>
#endif
