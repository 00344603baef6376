/* libFuzzer: the text catalogue readers (CSV, VizieR tab/semicolon exports, DS9 regions) and the
 * column mapping that every catalogue goes through. The first byte picks the reader. */
#include "astro/astro.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const char *const ext[] = {".csv", ".tsv", ".reg"};
    const char *path = fuzz_file(data + 1, size - 1, ext[data[0] % 3]);
    dc_catalog *raw = NULL, *mapped = NULL;
    if (dc_catalog_read(path, &raw) == DC_STATUS_OK) {
        dc_catalog_format fmt = DC_CATALOG_FORMAT_AUTO;
        if (dc_catalog_map(raw, DC_CATALOG_FORMAT_AUTO, &mapped, &fmt) == DC_STATUS_OK) dc_catalog_free(mapped);
        dc_catalog_free(raw);
    }
    remove(path);
    return 0;
}
