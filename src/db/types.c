/*
 * types.c — type and metric names, half-float conversions, name validation and
 * the small helpers the rest of src/db shares; the public parameter-block
 * initialisers of kite.h.
 *
 * Threading model: every function here is pure or touches only its arguments.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db.h"

/* ============================================================ dtypes */

static const struct {
    int dtype;
    const char *name;
} dtype_names[] = {
    {KITE_DT_BOOL, "Bool"},
    {KITE_DT_INT8, "Int8"},
    {KITE_DT_INT16, "Int16"},
    {KITE_DT_INT32, "Int32"},
    {KITE_DT_INT64, "Int64"},
    {KITE_DT_FLOAT, "Float"},
    {KITE_DT_DOUBLE, "Double"},
    {KITE_DT_VARCHAR, "VarChar"},
    {KITE_DT_ARRAY, "Array"},
    {KITE_DT_JSON, "JSON"},
    {KITE_DT_BINARY_VECTOR, "BinaryVector"},
    {KITE_DT_FLOAT_VECTOR, "FloatVector"},
    {KITE_DT_FLOAT16_VECTOR, "Float16Vector"},
    {KITE_DT_BFLOAT16_VECTOR, "BFloat16Vector"},
};

const char *kite_dtype_name(int dtype)
{
    for (size_t i = 0; i < sizeof(dtype_names) / sizeof(dtype_names[0]); i++)
        if (dtype_names[i].dtype == dtype)
            return dtype_names[i].name;
    return NULL;
}

int kite_dtype_from_name(const char *name)
{
    if (!name)
        return KITE_DT_NONE;
    for (size_t i = 0; i < sizeof(dtype_names) / sizeof(dtype_names[0]); i++)
        if (strcmp(dtype_names[i].name, name) == 0)
            return dtype_names[i].dtype;
    return KITE_DT_NONE;
}

bool kite_dtype_is_vector(int dtype)
{
    return dtype == KITE_DT_BINARY_VECTOR || dtype == KITE_DT_FLOAT_VECTOR ||
           dtype == KITE_DT_FLOAT16_VECTOR || dtype == KITE_DT_BFLOAT16_VECTOR;
}

size_t kite_dtype_row_bytes(int dtype, uint32_t dim)
{
    switch (dtype) {
    case KITE_DT_BOOL:
    case KITE_DT_INT8:
        return 1;
    case KITE_DT_INT16:
        return 2;
    case KITE_DT_INT32:
    case KITE_DT_FLOAT:
        return 4;
    case KITE_DT_INT64:
    case KITE_DT_DOUBLE:
        return 8;
    case KITE_DT_FLOAT_VECTOR:
        return (size_t)dim * 4;
    case KITE_DT_BINARY_VECTOR:
        return (size_t)dim / 8;
    case KITE_DT_FLOAT16_VECTOR:
    case KITE_DT_BFLOAT16_VECTOR:
        return (size_t)dim * 2;
    default:
        return 0;
    }
}

bool db_dtype_is_var(int dtype)
{
    return dtype == KITE_DT_VARCHAR || dtype == KITE_DT_JSON || dtype == KITE_DT_ARRAY;
}

/* ============================================================ metrics */

static const char *const metric_names[] = {
    [KITE_METRIC_NONE] = NULL,         [KITE_METRIC_L2] = "L2",
    [KITE_METRIC_IP] = "IP",           [KITE_METRIC_COSINE] = "COSINE",
    [KITE_METRIC_HAMMING] = "HAMMING", [KITE_METRIC_JACCARD] = "JACCARD",
    [KITE_METRIC_TANIMOTO] = "TANIMOTO", [KITE_METRIC_SUBSTRUCTURE] = "SUBSTRUCTURE",
    [KITE_METRIC_SUPERSTRUCTURE] = "SUPERSTRUCTURE",
};

const char *kite_metric_name(int metric)
{
    if (metric <= 0 || metric > KITE_METRIC_SUPERSTRUCTURE)
        return NULL;
    return metric_names[metric];
}

int kite_metric_from_name(const char *name)
{
    if (!name)
        return KITE_METRIC_NONE;
    for (int m = 1; m <= KITE_METRIC_SUPERSTRUCTURE; m++)
        if (strcasecmp(metric_names[m], name) == 0)
            return m;
    return KITE_METRIC_NONE;
}

bool kite_metric_larger_is_closer(int metric)
{
    return metric == KITE_METRIC_IP || metric == KITE_METRIC_COSINE;
}

/* ============================================================ misc */

uint64_t db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milvus name rule: 1..255 chars, first letter or '_', then letters, digits, '_'. */
bool db_name_valid(const char *name, const char *what, kite_err *err)
{
    if (!name || !*name) {
        kite_err_set(err, KITE_EINVAL, "the length of a %s name must be greater than 0", what);
        return false;
    }
    size_t len = strlen(name);
    if (len > DB_MAX_NAME) {
        kite_err_set(err, KITE_EINVAL,
                     "the length of a %s name must be less than 255 characters", what);
        return false;
    }
    if (!(isalpha((unsigned char)name[0]) || name[0] == '_')) {
        kite_err_set(err, KITE_EINVAL,
                     "the first character of a %s name must be an underscore or letter: "
                     "invalid parameter[name=%s]",
                     what, name);
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!(isalnum(ch) || ch == '_')) {
            kite_err_set(err, KITE_EINVAL,
                         "%s name can only contain numbers, letters and underscores: "
                         "invalid parameter[name=%s]",
                         what, name);
            return false;
        }
    }
    return true;
}

char *db_strfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = kite_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *db_path_join(const char *a, const char *b)
{
    return db_strfmt("%s/%s", a, b);
}

int db_strings_add(char ***list, size_t *n, const char *s)
{
    char **nl = kite_realloc(*list, (*n + 1) * sizeof(char *));
    if (!nl)
        return KITE_ENOMEM;
    *list = nl;
    nl[*n] = kite_strdup(s);
    if (!nl[*n])
        return KITE_ENOMEM;
    (*n)++;
    return KITE_OK;
}

void kite_strings_free(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        kite_free(names[i]);
    kite_free(names);
}

const char *kite_version(void)
{
    return KITE_VERSION_STRING;
}

/* ============================================================ param blocks */

void kite_options_init(kite_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = 1;
}

void kite_create_params_init(kite_create_params *p)
{
    memset(p, 0, sizeof(*p));
    p->version = 1;
    p->consistency_level = KITE_CONSISTENCY_BOUNDED;
    p->shards_num = 1;
}

void kite_index_params_init(kite_index_params *p)
{
    memset(p, 0, sizeof(*p));
    p->version = 1;
}

void kite_search_params_init(kite_search_params *p)
{
    memset(p, 0, sizeof(*p));
    p->version = 1;
    p->limit = 10;
    p->round_decimal = -1;
    p->group_size = 1;
    p->consistency_level = -1;
}

void kite_query_params_init(kite_query_params *p)
{
    memset(p, 0, sizeof(*p));
    p->version = 1;
    p->limit = -1;
    p->consistency_level = -1;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return kite_buf_append(data, buffer, size) == KITE_OK ? 0 : -1;
}

/* JSON text of j (compact), NUL-terminated, owned (kite_free); NULL on OOM. */
char *db_json_text(const json_t *j, size_t *len)
{
    struct kite_buf b;
    kite_buf_init(&b, 0);
    if (json_dump_callback(j, dump_cb, &b, JSON_COMPACT | JSON_ENCODE_ANY) != 0 ||
        kite_buf_append_u8(&b, 0) != KITE_OK) {
        kite_buf_free(&b);
        return NULL;
    }
    size_t n;
    char *s = (char *)kite_buf_detach(&b, &n);
    if (len)
        *len = n - 1;
    return s;
}
