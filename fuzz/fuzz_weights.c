/* libFuzzer: the weights reader (gzip stream, header, metadata, tensors, trailer checks). */
#include "fuzz_common.h"
#include "nn/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".dcw");
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
