/* The C driver of testsuite/tests/aot_libm.rs: sweeps f32 bit patterns
 * through the object `lm` (one f32 input of LM chunk elements, one output
 * per function) and prints, per output, the FNV-1a hash of the result bits
 * in input order (every NaN hashed as 0x7fc00000: semantics.md compares
 * NaNs by NaN-ness only, and x86-64 and aarch64 make different ones).
 *
 * `libm_driver STRIDE`: the inputs are the bit patterns 0, STRIDE,
 * 2·STRIDE, ... below 2^32 (STRIDE a power of two; 1 is every f32).
 * Exit code 0 on success.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: libm_driver STRIDE\n");
        return 2;
    }
    uint64_t stride = strtoull(argv[1], NULL, 10);
    size_t chunk = lm_INPUT_BYTES[0] / 4;
    uint64_t total = (1ull << 32) / stride;
    if (stride == 0 || total % chunk != 0) {
        fprintf(stderr, "bad stride\n");
        return 2;
    }
    uint32_t *in = aligned_alloc(64, chunk * 4);
    void *outs[lm_NUM_OUTPUTS];
    uint64_t hash[lm_NUM_OUTPUTS];
    for (int o = 0; o < lm_NUM_OUTPUTS; o++) {
        outs[o] = aligned_alloc(64, lm_OUTPUT_BYTES[o]);
        hash[o] = 0xcbf29ce484222325ull;
    }
    void *scratch = aligned_alloc(64, lm_SCRATCH_BYTES ? (lm_SCRATCH_BYTES + 63) / 64 * 64 : 64);
    if (!in || !scratch) return 3;
    const void *ins[1] = {in};
    for (uint64_t base = 0; base < total; base += chunk) {
        for (size_t j = 0; j < chunk; j++) in[j] = (uint32_t)((base + j) * stride);
        if (lm_run(ins, outs, scratch) != 0) {
            fprintf(stderr, "lm_run failed\n");
            return 1;
        }
        for (int o = 0; o < lm_NUM_OUTPUTS; o++) {
            const uint32_t *y = outs[o];
            for (size_t j = 0; j < chunk; j++) {
                /* Any NaN equals any NaN (docs/semantics.md). */
                uint32_t v = (y[j] & 0x7fffffff) > 0x7f800000 ? 0x7fc00000 : y[j];
                hash[o] = (hash[o] ^ v) * 0x100000001b3ull;
            }
        }
    }
    for (int o = 0; o < lm_NUM_OUTPUTS; o++) printf("%016llx\n", (unsigned long long)hash[o]);
    return 0;
}
