/*
 * The C side of capi/tests/c_api.rs: a program that uses qcc.h as a host
 * would. Modes:
 *
 *   capi_test layout
 *       prints sizeof and offsetof of qcc_tensor_info (the Rust test
 *       compares them with the crate's #[repr(C)] struct).
 *   capi_test run MODEL IN_DIR OUT_DIR [NAME=SIZE ...]
 *       compiles MODEL from its path and from its bytes in memory (with the
 *       dims given, 2 threads per run), prints every input and output
 *       (name, dtype, shape, quantization), reads input i from IN_DIR/in<i>.bin,
 *       runs the model from two threads at once (RUNS runs each, every
 *       result compared with the first), compares it with the interpreter
 *       and with the model compiled from memory, and writes output i to
 *       OUT_DIR/out<i>.bin.
 *   capi_test errors GOOD_TEXT_MODEL BAD_TEXT_MODEL
 *       every error path: NULL pointers, wrong counts and sizes, bad option
 *       values, out-of-range indices, a bad model with its line:column.
 *
 * Prints "ok" last on success; any failure prints its reason and exits 1.
 */
#include "qcc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 50

static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n",     \
                    __FILE__, __LINE__, #cond, qcc_last_error());              \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* A call that must fail with `status` and a message containing `needle`. */
#define EXPECT_ERR(call, status, needle)                                       \
    do {                                                                       \
        int s_ = (call);                                                       \
        if (s_ != (status)) {                                                  \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n",       \
                    __FILE__, __LINE__, #call, s_, qcc_status_string(s_),      \
                    (status));                                                 \
            failures++;                                                        \
        } else if (strstr(qcc_last_error(), (needle)) == NULL) {               \
            fprintf(stderr, "%s:%d: %s: message `%s` lacks `%s`\n", __FILE__,  \
                    __LINE__, #call, qcc_last_error(), (needle));              \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, qcc_last_error());
    exit(1);
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static int layout(void) {
    printf("size %zu\n", sizeof(qcc_tensor_info));
#define OFF(f) printf("%s %zu\n", #f, offsetof(qcc_tensor_info, f))
    OFF(name);
    OFF(dtype);
    OFF(quant);
    OFF(rank);
    OFF(shape);
    OFF(num_elements);
    OFF(num_bytes);
    OFF(min_value);
    OFF(max_value);
    OFF(axis);
    OFF(num_scales);
    OFF(scales);
    OFF(zero_points);
#undef OFF
    printf("ok\n");
    return 0;
}

/* The tensors of one model and a set of output buffers. */
typedef struct {
    const qcc_model *model;
    size_t n_in, n_out;
    const void **in;
    size_t *in_sizes;
    void **out;
    size_t *out_sizes;
    /* The first result, that every later run must equal. */
    void **want;
    int mismatches;
    int status;
} job;

static void alloc_outputs(job *j, void ***bufs) {
    *bufs = calloc(j->n_out ? j->n_out : 1, sizeof(void *));
    for (size_t i = 0; i < j->n_out; i++)
        (*bufs)[i] = malloc(j->out_sizes[i] ? j->out_sizes[i] : 1);
}

static void *run_many(void *arg) {
    job *j = arg;
    for (int r = 0; r < RUNS; r++) {
        int s = qcc_model_run(j->model, j->in, j->in_sizes, j->n_in, j->out,
                              j->out_sizes, j->n_out);
        if (s != QCC_OK) {
            j->status = s;
            fprintf(stderr, "run: %s\n", qcc_last_error());
            return NULL;
        }
        for (size_t i = 0; i < j->n_out; i++)
            if (memcmp(j->out[i], j->want[i], j->out_sizes[i]) != 0)
                j->mismatches++;
    }
    return NULL;
}

static const char *dtype_name(int32_t d) {
    static const char *names[] = {"f32", "i32", "i16", "u16", "i8", "u8", "i4", "u4"};
    return d >= 0 && d < 8 ? names[d] : "?";
}

/* A float's bits, so that the Rust side compares scales exactly. */
static unsigned bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (unsigned)u;
}

static void print_info(const char *kind, size_t i, const qcc_tensor_info *t) {
    printf("%s %zu %s %s [", kind, i, t->name, dtype_name(t->dtype));
    for (size_t d = 0; d < t->rank; d++)
        printf("%s%zu", d ? "," : "", t->shape[d]);
    printf("] bytes=%zu range=%lld..%lld", t->num_bytes, (long long)t->min_value,
           (long long)t->max_value);
    if (t->quant == QCC_QUANT_PER_TENSOR)
        printf(" scale=%08x zp=%lld", bits(t->scales[0]), (long long)t->zero_points[0]);
    else if (t->quant == QCC_QUANT_PER_AXIS)
        printf(" axis=%lld scales=%zu last=%08x zp_last=%lld", (long long)t->axis,
               t->num_scales, bits(t->scales[t->num_scales - 1]),
               (long long)t->zero_points[t->num_scales - 1]);
    printf("\n");
}

static int run(int argc, char **argv) {
    const char *model_path = argv[2], *in_dir = argv[3], *out_dir = argv[4];
    qcc_options *opts;
    if (qcc_options_new(&opts) != QCC_OK) die("options");
    for (int a = 5; a < argc; a++) {
        char name[256];
        const char *eq = strchr(argv[a], '=');
        if (!eq || (size_t)(eq - argv[a]) >= sizeof name) die("NAME=SIZE");
        memcpy(name, argv[a], (size_t)(eq - argv[a]));
        name[eq - argv[a]] = 0;
        if (qcc_options_set_dim(opts, name, (size_t)atol(eq + 1)) != QCC_OK) die("dim");
    }
    if (qcc_options_set_threads(opts, 2) != QCC_OK) die("threads");
    /* The buffer's dense_file constants are beside the file. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", model_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    if (qcc_options_set_base_dir(opts, dir) != QCC_OK) die("base_dir");

    qcc_model *m, *from_memory;
    if (qcc_compile_file(model_path, opts, &m) != QCC_OK) die("compile_file");
    size_t len;
    void *bytes = read_file(model_path, &len);
    if (qcc_compile_buffer(bytes, len, QCC_FORMAT_AUTO, model_path, opts, &from_memory) != QCC_OK)
        die("compile_buffer");
    free(bytes);
    qcc_options_free(opts);

    job j = {0};
    j.model = m;
    if (qcc_model_num_inputs(m, &j.n_in) != QCC_OK) die("num_inputs");
    if (qcc_model_num_outputs(m, &j.n_out) != QCC_OK) die("num_outputs");
    j.in = calloc(j.n_in ? j.n_in : 1, sizeof(void *));
    j.in_sizes = calloc(j.n_in ? j.n_in : 1, sizeof(size_t));
    j.out_sizes = calloc(j.n_out ? j.n_out : 1, sizeof(size_t));
    for (size_t i = 0; i < j.n_in; i++) {
        qcc_tensor_info t;
        if (qcc_model_input_info(m, i, &t) != QCC_OK) die("input_info");
        print_info("input", i, &t);
        char path[4096];
        snprintf(path, sizeof path, "%s/in%zu.bin", in_dir, i);
        size_t n;
        j.in[i] = read_file(path, &n);
        CHECK(n == t.num_bytes);
        j.in_sizes[i] = n;
    }
    for (size_t i = 0; i < j.n_out; i++) {
        qcc_tensor_info t;
        if (qcc_model_output_info(m, i, &t) != QCC_OK) die("output_info");
        print_info("output", i, &t);
        j.out_sizes[i] = t.num_bytes;
    }

    /* The reference: the interpreter on the compiled graph. */
    alloc_outputs(&j, &j.want);
    if (qcc_model_run_interpreter(m, j.in, j.in_sizes, j.n_in, j.want, j.out_sizes, j.n_out) !=
        QCC_OK)
        die("run_interpreter");

    /* Two threads at once, each with its own output buffers. */
    job jobs[2] = {j, j};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        alloc_outputs(&jobs[t], &jobs[t].out);
        if (pthread_create(&threads[t], NULL, run_many, &jobs[t]) != 0) die("pthread_create");
    }
    for (int t = 0; t < 2; t++) {
        pthread_join(threads[t], NULL);
        CHECK(jobs[t].status == QCC_OK);
        CHECK(jobs[t].mismatches == 0);
    }
    printf("threads: 2 x %d runs, %d + %d outputs differ from the interpreter\n", RUNS,
           jobs[0].mismatches, jobs[1].mismatches);

    /* The model compiled from memory computes the same. */
    job mem = j;
    mem.model = from_memory;
    alloc_outputs(&mem, &mem.out);
    run_many(&mem);
    CHECK(mem.status == QCC_OK && mem.mismatches == 0);

    for (size_t i = 0; i < j.n_out; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/out%zu.bin", out_dir, i);
        write_file(path, jobs[0].out[i], j.out_sizes[i]);
    }
    qcc_model_free(m);
    qcc_model_free(from_memory);
    if (failures) return 1;
    printf("ok\n");
    return 0;
}

static int errors(char **argv) {
    const char *good = argv[2], *bad = argv[3];
    qcc_model *m = (qcc_model *)&failures; /* must be reset to NULL on failure */

    /* Nothing at all. */
    EXPECT_ERR(qcc_compile_file(NULL, NULL, &m), QCC_ERR_NULL, "`path` is NULL");
    CHECK(m == NULL);
    EXPECT_ERR(qcc_compile_file(good, NULL, NULL), QCC_ERR_NULL, "`out` is NULL");
    EXPECT_ERR(qcc_compile_buffer(NULL, 3, QCC_FORMAT_AUTO, NULL, NULL, &m), QCC_ERR_NULL,
               "`data` is NULL");
    EXPECT_ERR(qcc_options_new(NULL), QCC_ERR_NULL, "`out` is NULL");
    EXPECT_ERR(qcc_options_set_threads(NULL, 1), QCC_ERR_NULL, "`options` is NULL");
    EXPECT_ERR(qcc_model_num_inputs(NULL, NULL), QCC_ERR_NULL, "`model` is NULL");
    EXPECT_ERR(qcc_model_input_info(NULL, 0, NULL), QCC_ERR_NULL, "`model` is NULL");
    EXPECT_ERR(qcc_model_run(NULL, NULL, NULL, 0, NULL, NULL, 0), QCC_ERR_NULL,
               "`model` is NULL");
    qcc_model_free(NULL);
    qcc_options_free(NULL);
    CHECK(strcmp(qcc_status_string(QCC_ERR_SIZE), "wrong buffer count or size") == 0);
    CHECK(strcmp(qcc_status_string(12345), "unknown status") == 0);
    CHECK(strlen(qcc_version()) > 0);

    /* Bad option values. */
    qcc_options *o;
    CHECK(qcc_options_new(&o) == QCC_OK);
    EXPECT_ERR(qcc_options_set_target(o, "riscv"), QCC_ERR_ARGUMENT, "unknown target `riscv`");
    EXPECT_ERR(qcc_options_set_target(o, NULL), QCC_ERR_NULL, "`target` is NULL");
    EXPECT_ERR(qcc_options_set_threads(o, 0), QCC_ERR_ARGUMENT, "at least 1");
    EXPECT_ERR(qcc_options_set_dim(o, "N", 0), QCC_ERR_ARGUMENT, "dim `N=0`");
    EXPECT_ERR(qcc_options_set_passes(o, "lower-qdq,frobnicate"), QCC_ERR_ARGUMENT, "frobnicate");
    EXPECT_ERR(qcc_options_set_requant(o, "triple_round"), QCC_ERR_ARGUMENT,
               "unknown requantize mode");
    EXPECT_ERR(qcc_options_set_dot_path(o, "sse9"), QCC_ERR_ARGUMENT, "this machine runs:");
    EXPECT_ERR(qcc_options_set_target(o, "\xff\xfe"), QCC_ERR_ARGUMENT, "not UTF-8");
    EXPECT_ERR(qcc_options_set_base_dir(o, NULL), QCC_ERR_NULL, "`dir` is NULL");
    CHECK(qcc_options_set_target(o, "portable") == QCC_OK);
    CHECK(qcc_options_set_passes(o, "default") == QCC_OK);
    CHECK(qcc_options_set_requant(o, "single_round") == QCC_OK);
    CHECK(qcc_options_set_dot_path(o, "scalar") == QCC_OK);

    /* Bad models: a missing file, bad text with its place, bad bytes. */
    EXPECT_ERR(qcc_compile_file("/nonexistent/model.txt", o, &m), QCC_ERR_LOAD, "cannot read");
    CHECK(m == NULL);
    EXPECT_ERR(qcc_compile_file(bad, o, &m), QCC_ERR_LOAD, "bad.txt:");
    CHECK(m == NULL);
    const char text[] = "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n"
                        "  %r = relu %x : tensor<3xf32>\n"
                        "  return %r\n}\n";
    EXPECT_ERR(qcc_compile_buffer(text, sizeof text - 1, QCC_FORMAT_TEXT, "mem.txt", o, &m),
               QCC_ERR_LOAD, "--> mem.txt:3:10");
    CHECK(m == NULL);
    const char typo[] = "graph @g(%x: tensor<2xf32>) -> (%y: tensor<2xf32>) {\n"
                        "  %r = rleu %x : tensor<2xf32>\n"
                        "  return %r\n}\n";
    EXPECT_ERR(qcc_compile_buffer(typo, sizeof typo - 1, QCC_FORMAT_AUTO, NULL, o, &m),
               QCC_ERR_LOAD, "<buffer>:2:8");
    const unsigned char junk[] = {0x08, 0xff, 0xff, 0xff};
    EXPECT_ERR(qcc_compile_buffer(junk, sizeof junk, QCC_FORMAT_AUTO, "junk.onnx", o, &m),
               QCC_ERR_LOAD, "`junk.onnx`");
    EXPECT_ERR(qcc_compile_buffer(junk, sizeof junk, QCC_FORMAT_TEXT, "junk", o, &m),
               QCC_ERR_LOAD, "not UTF-8");
    EXPECT_ERR(qcc_compile_buffer(text, sizeof text - 1, 9, NULL, o, &m), QCC_ERR_ARGUMENT,
               "unknown format 9");

    /* A good model, then every way to call it wrongly. */
    CHECK(qcc_compile_file(good, o, &m) == QCC_OK);
    qcc_options_free(o);
    if (m == NULL) return 1;
    size_t n_in = 0, n_out = 0;
    CHECK(qcc_model_num_inputs(m, &n_in) == QCC_OK && n_in == 1);
    CHECK(qcc_model_num_outputs(m, &n_out) == QCC_OK && n_out == 1);
    EXPECT_ERR(qcc_model_num_outputs(m, NULL), QCC_ERR_NULL, "`count` is NULL");
    qcc_tensor_info in, out;
    CHECK(qcc_model_input_info(m, 0, &in) == QCC_OK);
    CHECK(qcc_model_output_info(m, 0, &out) == QCC_OK);
    EXPECT_ERR(qcc_model_input_info(m, 0, NULL), QCC_ERR_NULL, "`info` is NULL");
    EXPECT_ERR(qcc_model_input_info(m, 1, &in), QCC_ERR_ARGUMENT, "input index 1 is out of range");
    EXPECT_ERR(qcc_model_output_info(m, (size_t)-1, &out), QCC_ERR_ARGUMENT, "out of range");

    unsigned char *x = calloc(1, in.num_bytes + 1), *y = calloc(1, out.num_bytes + 1);
    const void *ins[1] = {x};
    void *outs[1] = {y};
    memset(x, in.min_value > 0 ? (int)in.min_value : 0, in.num_bytes);
    size_t in_size[1] = {in.num_bytes}, out_size[1] = {out.num_bytes};
    size_t small_in[1] = {in.num_bytes - 1}, big_out[1] = {out.num_bytes + 1};
    const void *null_in[1] = {NULL};
    void *null_out[1] = {NULL};
    CHECK(qcc_model_run(m, ins, in_size, 1, outs, out_size, 1) == QCC_OK);
    EXPECT_ERR(qcc_model_run(m, ins, in_size, 0, outs, out_size, 1), QCC_ERR_SIZE,
               "the model has 1 inputs, 0 were given");
    EXPECT_ERR(qcc_model_run(m, ins, in_size, 1, outs, out_size, 2), QCC_ERR_SIZE,
               "the model has 1 outputs, 2 were given");
    EXPECT_ERR(qcc_model_run(m, ins, small_in, 1, outs, out_size, 1), QCC_ERR_SIZE,
               "input 0 (`x`");
    EXPECT_ERR(qcc_model_run(m, ins, in_size, 1, outs, big_out, 1), QCC_ERR_SIZE,
               "output 0");
    EXPECT_ERR(qcc_model_run(m, NULL, in_size, 1, outs, out_size, 1), QCC_ERR_NULL,
               "`inputs` is NULL");
    EXPECT_ERR(qcc_model_run(m, ins, NULL, 1, outs, out_size, 1), QCC_ERR_NULL,
               "`input_sizes` is NULL");
    EXPECT_ERR(qcc_model_run(m, null_in, in_size, 1, outs, out_size, 1), QCC_ERR_NULL,
               "`inputs[0]` is NULL");
    EXPECT_ERR(qcc_model_run(m, ins, in_size, 1, NULL, out_size, 1), QCC_ERR_NULL,
               "`outputs` is NULL");
    EXPECT_ERR(qcc_model_run(m, ins, in_size, 1, outs, NULL, 1), QCC_ERR_NULL,
               "`output_sizes` is NULL");
    EXPECT_ERR(qcc_model_run(m, ins, in_size, 1, null_out, out_size, 1), QCC_ERR_NULL,
               "`outputs[0]` is NULL");
    EXPECT_ERR(qcc_model_run_interpreter(m, ins, small_in, 1, outs, out_size, 1), QCC_ERR_SIZE,
               "input 0");
    /* A value outside a narrow storage range (the good model's input is
     * u8 in 1..255 when its range says so: the Rust test picks such a
     * model). */
    if (in.min_value > 0 && in.dtype == QCC_DTYPE_U8) {
        memset(x, 0, in.num_bytes);
        EXPECT_ERR(qcc_model_run(m, ins, in_size, 1, outs, out_size, 1), QCC_ERR_RUN, "x");
        EXPECT_ERR(qcc_model_run_interpreter(m, ins, in_size, 1, outs, out_size, 1), QCC_ERR_RUN,
                   "x");
    }
    /* Still usable after all that. */
    memset(x, in.min_value > 0 ? (int)in.min_value : 0, in.num_bytes);
    CHECK(qcc_model_run(m, ins, in_size, 1, outs, out_size, 1) == QCC_OK);
    free(x);
    free(y);
    qcc_model_free(m);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "layout") == 0) return layout();
    if (argc >= 5 && strcmp(argv[1], "run") == 0) return run(argc, argv);
    if (argc == 4 && strcmp(argv[1], "errors") == 0) return errors(argv);
    fprintf(stderr, "usage: capi_test layout | run MODEL IN OUT [N=S...] | errors GOOD BAD\n");
    return 2;
}
