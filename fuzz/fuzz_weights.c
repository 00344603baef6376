/* libFuzzer: the weights reader (gzip stream, header, metadata, tensors, trailer checks). An input
 * that starts with the gzip magic is written as it is (damaged compression, trailers); any other
 * input is the decompressed content and is gzip-compressed first, so that the fuzzer's mutations
 * reach the header, metadata and tensor parsing instead of dying in inflate (zlib is not
 * instrumented). Seeds of both kinds are in corpus/weights/ (*.dcw, *.raw). */
#include <zlib.h>

#include "fuzz_common.h"
#include "nn/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        path = fuzz_file(data, size, ".dcw");
    } else {
        path = fuzz_file(NULL, 0, ".dcw");
        gzFile gz = gzopen(path, "wb1");
        if (!gz) abort();
        if (size && gzwrite(gz, data, (unsigned)size) != (int)size) abort();
        if (gzclose(gz) != Z_OK) abort();
    }
    dc_weights *w = NULL;
    if (dc_weights_load(path, &w) == DC_STATUS_OK) {
        for (int i = 0; i < dc_weights_meta_count(w); i++) { /* walk metadata and tensors as loading does */
            const char *k = NULL, *v = NULL;
            dc_weights_meta_at(w, i, &k, &v);
        }
        for (int i = 0; i < dc_weights_count(w); i++) (void)dc_weights_at(w, i);
        dc_weights_free(w);
    }
    remove(path);
    return 0;
}
