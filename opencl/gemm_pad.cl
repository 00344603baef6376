/* Copies into and out of the tile-padded operand layout of engine/ops/gemm.c (dc_gemm_padded).
 *
 * gemm_pad_copy: dst [DR, DC] (row-major, every element written) takes the ROWS x COLS block of
 * src (row-major, leading dimension LD, starting at SRC_OFF), transposed when TRANS, and zeros
 * everywhere else. It stages weights (W^T padded, or W padded), pads a gradient block, and copies
 * the valid block out of a padded result (DR x DC = ROWS x COLS, nothing to zero).
 * Global range (DC, DR). */
__kernel void gemm_pad_copy(__global const float *src, const int src_off, const int LD,
                            const int ROWS, const int COLS, const int TRANS, __global float *dst,
                            const int DR, const int DC)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (j >= DC || i >= DR) return;
    float v = 0.0f;
    if (TRANS) {
        if (i < COLS && j < ROWS) v = src[src_off + (size_t)j * LD + i];
    } else if (i < ROWS && j < COLS) {
        v = src[src_off + (size_t)i * LD + j];
    }
    dst[(size_t)i * DC + j] = v;
}

/* Zero the NX x NY block at column X0, row Y0 of a matrix with leading dimension LD: the padding
 * around a block that its producer (im2col) writes itself. Global range (NX, NY). */
__kernel void gemm_pad_zero(__global float *m, const int LD, const int X0, const int Y0,
                            const int NX, const int NY)
{
    const int x = get_global_id(0), y = get_global_id(1);
    if (x >= NX || y >= NY) return;
    m[(size_t)(Y0 + y) * LD + X0 + x] = 0.0f;
}
