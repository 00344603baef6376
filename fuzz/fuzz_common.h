/* Shared by the libFuzzer harnesses (fuzz/README.md): the input goes to a temporary file with the
 * extension the reader dispatches on, as users' files reach the engine. */
#ifndef DC_FUZZ_COMMON_H
#define DC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Write data to a per-process temporary path ending in ext; returns the path (static buffer). */
static const char *fuzz_file(const uint8_t *data, size_t size, const char *ext)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/dc-fuzz-%ld%s", (long)getpid(), ext);
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp) != 0) abort();
    return path;
}

#endif
