/* Corpus replay without libFuzzer (fuzz/README.md): a plain main() linked with one harness, so the
 * normal build (gcc or clang, sanitized or not) runs every corpus input, the regress-* inputs that
 * once crashed included, through the harness's LLVMFuzzerTestOneInput as a ctest.
 *   fuzz_replay_<name> FILE_OR_DIR...   (a folder: every file in it, in name order, not recursing)
 * Exit 0 when every input ran; 1 when an argument cannot be read or no input was found (an empty or
 * missing corpus must not pass silently). A crash, or a sanitizer report in a sanitized build,
 * ends the process as it would end the fuzzer. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file; returns 0, or 1 when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fuzz replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 4096, size = 0;
    uint8_t *data = malloc(cap);
    while (data) {
        size += fread(data + size, 1, cap - size, fp);
        if (size < cap) break;
        uint8_t *more = realloc(data, cap * 2);
        if (!more) {
            free(data);
            data = NULL;
            break;
        }
        data = more;
        cap *= 2;
    }
    int bad = !data || ferror(fp);
    fclose(fp);
    if (bad) {
        fprintf(stderr, "fuzz replay: cannot read %s\n", path);
        free(data);
        return 1;
    }
    /* an exact-size copy, as libFuzzer passes it, so AddressSanitizer sees any read past the end */
    uint8_t *exact = malloc(size ? size : 1);
    if (!exact) {
        fprintf(stderr, "fuzz replay: out of memory for %s (%zu bytes)\n", path, size);
        free(data);
        return 1;
    }
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

static int skip_hidden(const struct dirent *e) { return e->d_name[0] != '.'; }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 1;
    }
    int failed = 0;
    long count = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "fuzz replay: cannot read %s: %s\n", argv[a], strerror(errno));
            failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[a]);
            count++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[a], &names, skip_hidden, alphasort);
        if (n < 0) {
            fprintf(stderr, "fuzz replay: cannot list %s: %s\n", argv[a], strerror(errno));
            failed = 1;
            continue;
        }
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], names[i]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                failed |= replay_file(path);
                count++;
            }
            free(names[i]);
        }
        free(names);
    }
    if (count == 0) {
        fprintf(stderr, "fuzz replay: no input found\n");
        failed = 1;
    }
    if (!failed) printf("fuzz replay: %ld input%s run\n", count, count == 1 ? "" : "s");
    return failed;
}
