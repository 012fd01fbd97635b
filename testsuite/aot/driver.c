/* The C driver of the ahead-of-time tests (testsuite/tests/aot.rs).
 *
 * Built against the headers of many objects at once: `models.inc` (written
 * by the test) includes each header and defines QCC_MODELS as X(name) ...
 * For each model NAME, `driver DIR` reads DIR/NAME.in (its inputs, one after
 * another, in the header's order and sizes), runs NAME_run twice on
 * scratch buffers filled with two different patterns (the result must not
 * depend on the scratch's old contents), and writes DIR/NAME.out (the
 * outputs, one after another). `driver DIR N` instead times N runs of each
 * model and prints the mean in microseconds.
 *
 * Exit code 0 on success; anything else names the model and what failed.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models.inc"

typedef int (*run_fn)(const void *const *, void *const *, void *);

struct model {
    const char *name;
    size_t nin, nout, scratch;
    const size_t *in_bytes, *out_bytes;
    run_fn run;
};

#define X(n) {#n, n##_NUM_INPUTS, n##_NUM_OUTPUTS, n##_SCRATCH_BYTES, \
              n##_INPUT_BYTES, n##_OUTPUT_BYTES, n##_run},
static const struct model models[] = {QCC_MODELS};

static void *alloc64(size_t bytes, int fill) {
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(3);
    }
    memset(p, fill, n ? n : 64);
    return p;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int one(const char *dir, const struct model *m, long timed) {
    char path[4096];
    void *in[64], *out[64], *again[64];
    if (m->nin > 64 || m->nout > 64) {
        fprintf(stderr, "%s: too many tensors for the driver\n", m->name);
        return 1;
    }
    snprintf(path, sizeof path, "%s/%s.in", dir, m->name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s\n", m->name, path);
        return 1;
    }
    for (size_t i = 0; i < m->nin; i++) {
        in[i] = alloc64(m->in_bytes[i], 0);
        if (fread(in[i], 1, m->in_bytes[i], f) != m->in_bytes[i]) {
            fprintf(stderr, "%s: %s is short (input %zu)\n", m->name, path, i);
            return 1;
        }
    }
    fclose(f);
    for (size_t j = 0; j < m->nout; j++) {
        out[j] = alloc64(m->out_bytes[j], 0xcd);
        again[j] = alloc64(m->out_bytes[j], 0x3c);
    }
    void *s1 = alloc64(m->scratch, 0xa5), *s2 = alloc64(m->scratch, 0x5a);
    if (timed > 0) {
        m->run((const void *const *)in, out, s1);
        double t0 = now_us();
        for (long r = 0; r < timed; r++)
            m->run((const void *const *)in, out, s1);
        printf("%s %.3f us\n", m->name, (now_us() - t0) / timed);
        return 0;
    }
    if (m->run((const void *const *)in, out, s1) != 0 ||
        m->run((const void *const *)in, again, s2) != 0) {
        fprintf(stderr, "%s: run returned an error\n", m->name);
        return 1;
    }
    for (size_t j = 0; j < m->nout; j++)
        if (memcmp(out[j], again[j], m->out_bytes[j]) != 0) {
            fprintf(stderr, "%s: output %zu depends on the scratch contents\n", m->name, j);
            return 1;
        }
    /* A null scratch is refused, not dereferenced. */
    if (m->run((const void *const *)in, again, NULL) != 1) {
        fprintf(stderr, "%s: a null scratch was not refused\n", m->name);
        return 1;
    }
    snprintf(path, sizeof path, "%s/%s.out", dir, m->name);
    f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s\n", m->name, path);
        return 1;
    }
    for (size_t j = 0; j < m->nout; j++)
        fwrite(out[j], 1, m->out_bytes[j], f);
    fclose(f);
    for (size_t i = 0; i < m->nin; i++)
        free(in[i]);
    for (size_t j = 0; j < m->nout; j++) {
        free(out[j]);
        free(again[j]);
    }
    free(s1);
    free(s2);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: driver DIR [TIMED_RUNS]\n");
        return 2;
    }
    long timed = argc > 2 ? atol(argv[2]) : 0;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++)
        if (one(argv[1], &models[k], timed) != 0)
            return 1;
    return 0;
}
