// libnftables, loaded at run time: Warden talks to nftables in-process (no fork/exec of nft per
// change) when the library is installed, and needs nothing at build time.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "CWardenSys.h"

struct warden_nft {
    void *lib;
    void *ctx;
    int (*run)(void *, const char *);
    const char *(*output)(void *);
    const char *(*error)(void *);
    void (*free_ctx)(void *);
};

warden_nft_t *warden_nft_open(void) {
    void *lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return NULL;
    void *(*new_ctx)(unsigned int) = (void *(*)(unsigned int))dlsym(lib, "nft_ctx_new");
    int (*buffer_output)(void *) = (int (*)(void *))dlsym(lib, "nft_ctx_buffer_output");
    int (*buffer_error)(void *) = (int (*)(void *))dlsym(lib, "nft_ctx_buffer_error");
    struct warden_nft *n = calloc(1, sizeof *n);
    if (!n) { dlclose(lib); return NULL; }
    n->lib = lib;
    n->run = (int (*)(void *, const char *))dlsym(lib, "nft_run_cmd_from_buffer");
    n->output = (const char *(*)(void *))dlsym(lib, "nft_ctx_get_output_buffer");
    n->error = (const char *(*)(void *))dlsym(lib, "nft_ctx_get_error_buffer");
    n->free_ctx = (void (*)(void *))dlsym(lib, "nft_ctx_free");
    if (!new_ctx || !buffer_output || !buffer_error || !n->run || !n->output || !n->error || !n->free_ctx) {
        dlclose(lib);
        free(n);
        return NULL;
    }
    n->ctx = new_ctx(0);
    if (!n->ctx) { dlclose(lib); free(n); return NULL; }
    buffer_output(n->ctx);
    buffer_error(n->ctx);
    return n;
}

int warden_nft_run(warden_nft_t *n, const char *commands, char **output, char **error) {
    int rc = n->run(n->ctx, commands);
    const char *out = n->output(n->ctx);
    const char *err = n->error(n->ctx);
    *output = strdup(out ? out : "");
    *error = strdup(err ? err : "");
    return rc;
}

void warden_nft_close(warden_nft_t *n) {
    if (!n) return;
    n->free_ctx(n->ctx);
    dlclose(n->lib);
    free(n);
}

#include <stdio.h>
void warden_stdout_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
