/* libdir.c - see libdir.h. In the shared engine this is the folder of
 * libshimfs-core.so; in the statically linked CLI, that of the binary. */
#include "libdir.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

void libdir_get(char *out, size_t cap)
{
    Dl_info info;
    out[0] = '\0';
    if (dladdr((void *)libdir_get, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash)
            snprintf(out, cap, "%.*s/", (int)(slash - info.dli_fname), info.dli_fname);
    }
}
