/*
 * qcc.h: the C API of qcc for JIT hosts (crate `qcc-capi`).
 *
 * Compile a quantized model (a qcc text graph or an ONNX model, from a
 * path or a memory buffer) to machine code for this machine, query its
 * inputs and outputs, and run it on your own buffers:
 *
 *     qcc_model *m;
 *     if (qcc_compile_file("model.onnx", NULL, &m) != QCC_OK) {
 *         fprintf(stderr, "%s", qcc_last_error());
 *         return 1;
 *     }
 *     qcc_tensor_info in, out;
 *     qcc_model_input_info(m, 0, &in);
 *     qcc_model_output_info(m, 0, &out);
 *     const void *inputs[1] = { x };   size_t in_sizes[1] = { in.num_bytes };
 *     void *outputs[1] = { y };        size_t out_sizes[1] = { out.num_bytes };
 *     int s = qcc_model_run(m, inputs, in_sizes, 1, outputs, out_sizes, 1);
 *     qcc_model_free(m);
 *
 * Build and link (see the README):
 *     cargo build --release -p qcc-capi
 *     cc main.c -I capi/include -L target/release -lqcc_capi \
 *        -Wl,-rpath,$PWD/target/release -o main
 *
 * The rules every function keeps:
 *  - It returns a status: QCC_OK (0) or a QCC_ERR_* code. A NULL pointer,
 *    a buffer count or byte size that is not the model's, an unknown
 *    option value or a string that is not UTF-8 is an error code, never a
 *    crash. A bug inside qcc is QCC_ERR_PANIC, never an unwind into C.
 *  - After a failure, qcc_last_error() is the message (for a model that
 *    does not load, the located text `qcc` prints: file:line:column for a
 *    text graph). It is per thread and stays valid until the thread's next
 *    failure.
 *  - What cannot be checked is yours to keep: a non-NULL pointer points to
 *    what its comment says (a NUL-terminated string, at least the number
 *    of bytes passed beside it, a handle from this library not yet freed).
 *  - A model may be run from many threads at once. Options may not be
 *    changed while another thread uses them.
 *
 * This file is written by hand; capi/tests/c_api.rs checks it against
 * capi/src/lib.rs (every function's signature, every constant, the layout
 * of qcc_tensor_info).
 */
#ifndef QCC_H
#define QCC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes ------------------------------------------------------ */

#define QCC_OK 0
/* A pointer the call needs was NULL. */
#define QCC_ERR_NULL 1
/* An argument value the call does not accept (an unknown target, a thread
 * count of 0, an index out of range, a string that is not UTF-8). */
#define QCC_ERR_ARGUMENT 2
/* A buffer count or byte size differs from the model's. */
#define QCC_ERR_SIZE 3
/* The model could not be read, parsed, imported or verified. */
#define QCC_ERR_LOAD 4
/* The pass pipeline or the code generator failed. */
#define QCC_ERR_COMPILE 5
/* The model refused the input values (outside a narrow storage range, a
 * 4-bit value out of range) or could not run. */
#define QCC_ERR_RUN 6
/* A bug in qcc: a panic, caught at the boundary. */
#define QCC_ERR_PANIC 7

/* ---- Element types (qcc_tensor_info.dtype) ----------------------------- */

#define QCC_DTYPE_F32 0 /* float */
#define QCC_DTYPE_I32 1 /* int32_t */
#define QCC_DTYPE_I16 2 /* int16_t */
#define QCC_DTYPE_U16 3 /* uint16_t */
#define QCC_DTYPE_I8 4  /* int8_t */
#define QCC_DTYPE_U8 5  /* uint8_t */
#define QCC_DTYPE_I4 6  /* one int8_t per value, in -8..7 */
#define QCC_DTYPE_U4 7  /* one uint8_t per value, in 0..15 */

/* ---- Quantization (qcc_tensor_info.quant) ------------------------------ */

/* Not quantized: a float tensor, or a plain integer one. */
#define QCC_QUANT_NONE 0
/* One scale and zero point: real = scale * (q - zero_point). */
#define QCC_QUANT_PER_TENSOR 1
/* One scale and zero point per index of `axis`. */
#define QCC_QUANT_PER_AXIS 2

/* ---- Model formats (qcc_compile_buffer) -------------------------------- */

/* Text if the buffer is UTF-8 starting with a printable character (a
 * comment or `graph`), else ONNX. */
#define QCC_FORMAT_AUTO 0
#define QCC_FORMAT_TEXT 1
#define QCC_FORMAT_ONNX 2

/* ---- Types ------------------------------------------------------------- */

/* A compiled model. Free with qcc_model_free. */
typedef struct qcc_model qcc_model;

/* Options of a compilation. Free with qcc_options_free. */
typedef struct qcc_options qcc_options;

/* A graph input or output. Its pointers belong to the model and live as
 * long as it does. */
typedef struct qcc_tensor_info {
    const char *name;       /* NUL-terminated */
    int32_t dtype;          /* QCC_DTYPE_*: the element type of its buffers */
    int32_t quant;          /* QCC_QUANT_* */
    size_t rank;            /* number of dimensions */
    const size_t *shape;    /* rank dimensions, outermost first */
    size_t num_elements;    /* product of the dimensions */
    size_t num_bytes;       /* the size of its buffers */
    int64_t min_value;      /* integer types: the values it may hold, */
    int64_t max_value;      /* inclusive (narrow or full); 0, 0 for f32 */
    int64_t axis;           /* QCC_QUANT_PER_AXIS: the axis; else -1 */
    size_t num_scales;      /* 0, 1 or shape[axis] */
    const float *scales;    /* num_scales scales (NULL when 0) */
    const int64_t *zero_points; /* num_scales zero points (NULL when 0) */
} qcc_tensor_info;

/* ---- Library ----------------------------------------------------------- */

/* The library version ("0.1.0"), a static string. */
const char *qcc_version(void);

/* A static description of a status code. */
const char *qcc_status_string(int status);

/* The calling thread's last failure message ("" if none). */
const char *qcc_last_error(void);

/* ---- Options ----------------------------------------------------------- */

/* New options with the defaults: target "host", 1 thread, no dims, the
 * default pass pipeline, "float" requantization, the best dot path. */
int qcc_options_new(qcc_options **out);

/* Frees options (NULL does nothing). */
void qcc_options_free(qcc_options *options);

/* The weight layout the passes pack for (`qcc run --target`): "host",
 * "portable", "vnni" or "amx". */
int qcc_options_set_target(qcc_options *options, const char *target);

/* Threads one run may use (at least 1). */
int qcc_options_set_threads(qcc_options *options, size_t threads);

/* The size of an ONNX model's symbolic dimension (`--dim NAME=SIZE`). */
int qcc_options_set_dim(qcc_options *options, const char *name, size_t size);

/* The pass pipeline (`--passes`): comma-separated pass names, "default"
 * or "none". */
int qcc_options_set_passes(qcc_options *options, const char *passes);

/* The requantize arithmetic (`--requant`): "float", "single_round" or
 * "double_round". */
int qcc_options_set_requant(qcc_options *options, const char *mode);

/* Forces the JIT's dot-product path (`--dot-path`): "amx", "avx512vnni",
 * "avxvnni", "avx2", "clif128" or "scalar", if this machine runs it. */
int qcc_options_set_dot_path(qcc_options *options, const char *path);

/* The folder where a model compiled from a buffer finds its files (a text
 * graph's dense_file constants, ONNX external data). Default: none. */
int qcc_options_set_base_dir(qcc_options *options, const char *dir);

/* ---- Compiling --------------------------------------------------------- */

/* Compiles a model file: ONNX if `path` ends in ".onnx", else a qcc text
 * graph. `options` may be NULL (the defaults). On success *out is the
 * model; on failure *out is NULL. */
int qcc_compile_file(const char *path, const qcc_options *options, qcc_model **out);

/* Compiles a model from `len` bytes at `data`, in `format` (QCC_FORMAT_*).
 * `name` (NULL: "<buffer>") names it in errors. dense_file constants and
 * ONNX external data are read from the options' base folder. */
int qcc_compile_buffer(const void *data, size_t len, int32_t format, const char *name,
                       const qcc_options *options, qcc_model **out);

/* Frees a model (NULL does nothing). No run of it may be going on. */
void qcc_model_free(qcc_model *model);

/* ---- Inputs and outputs ------------------------------------------------ */

int qcc_model_num_inputs(const qcc_model *model, size_t *count);
int qcc_model_num_outputs(const qcc_model *model, size_t *count);

/* Describes input / output `index` (QCC_ERR_ARGUMENT when out of range). */
int qcc_model_input_info(const qcc_model *model, size_t index, qcc_tensor_info *info);
int qcc_model_output_info(const qcc_model *model, size_t index, qcc_tensor_info *info);

/* ---- Running ----------------------------------------------------------- */

/* Runs the machine code. inputs[i] holds input_sizes[i] bytes, outputs[i]
 * output_sizes[i]; counts and sizes must be the model's (num_bytes of each
 * tensor), else QCC_ERR_SIZE and nothing runs. Buffers are dense,
 * row-major, in the machine's byte order; no alignment is required. Safe
 * to call from many threads at once on one model. */
int qcc_model_run(const qcc_model *model,
                  const void *const *inputs, const size_t *input_sizes, size_t num_inputs,
                  void *const *outputs, const size_t *output_sizes, size_t num_outputs);

/* The same on the reference interpreter (the specification), on the same
 * compiled graph: the outputs equal qcc_model_run's bit for bit. Slow. */
int qcc_model_run_interpreter(const qcc_model *model,
                              const void *const *inputs, const size_t *input_sizes,
                              size_t num_inputs,
                              void *const *outputs, const size_t *output_sizes,
                              size_t num_outputs);

#ifdef __cplusplus
}
#endif

#endif /* QCC_H */
