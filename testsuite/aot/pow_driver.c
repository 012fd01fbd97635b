/* The C driver of testsuite/tests/aot_libm.rs's pow check: runs the object
 * `pw` (two f32 inputs of PW chunk elements, one output: pow a, b) over
 * the pairs in two files of raw little-endian f32 and writes the results.
 *
 * `pow_driver A.bin B.bin OUT.bin`: the files hold a multiple of the chunk.
 * Exit code 0 on success.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pw.h"

static int read_all(const char *path, void *buf, size_t bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, bytes, f);
    int extra = fgetc(f);
    fclose(f);
    return n == bytes && extra == EOF;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: pow_driver A.bin B.bin OUT.bin\n");
        return 2;
    }
    FILE *fa = fopen(argv[1], "rb");
    if (!fa || fseek(fa, 0, SEEK_END) != 0) return 3;
    long size = ftell(fa);
    fclose(fa);
    size_t chunk = pw_INPUT_BYTES[0];
    if (size <= 0 || (size_t)size % chunk != 0) {
        fprintf(stderr, "%s: not a multiple of %zu bytes\n", argv[1], chunk);
        return 2;
    }
    size_t bytes = (size_t)size, rounded = (bytes + 63) / 64 * 64;
    uint8_t *a = aligned_alloc(64, rounded), *b = aligned_alloc(64, rounded);
    uint8_t *y = aligned_alloc(64, rounded);
    void *scratch = aligned_alloc(64, pw_SCRATCH_BYTES ? (pw_SCRATCH_BYTES + 63) / 64 * 64 : 64);
    if (!a || !b || !y || !scratch) return 3;
    if (!read_all(argv[1], a, bytes) || !read_all(argv[2], b, bytes)) {
        fprintf(stderr, "reading the inputs failed\n");
        return 3;
    }
    for (size_t off = 0; off < bytes; off += chunk) {
        const void *ins[2] = {a + off, b + off};
        void *outs[1] = {y + off};
        if (pw_run(ins, outs, scratch) != 0) {
            fprintf(stderr, "pw_run failed\n");
            return 1;
        }
    }
    FILE *fo = fopen(argv[3], "wb");
    if (!fo || fwrite(y, 1, bytes, fo) != bytes || fclose(fo) != 0) {
        fprintf(stderr, "writing %s failed\n", argv[3]);
        return 3;
    }
    return 0;
}
