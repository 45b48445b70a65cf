/* log.h — leveled logging to stderr (text or JSON).  Library code never prints to stdout. */
#ifndef KITE_CORE_LOG_H
#define KITE_CORE_LOG_H

#include <stdbool.h>

enum kite_log_level { KITE_LOG_DEBUG = 0, KITE_LOG_INFO, KITE_LOG_WARN, KITE_LOG_ERROR, KITE_LOG_OFF };

void kite_log_set_level(int level);
int kite_log_get_level(void);
void kite_log_set_json(bool json);
/* Parse "debug|info|warn|error|off"; -1 if unknown. */
int kite_log_level_from_name(const char *name);
void kite_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define KITE_DEBUG(...) kite_log(KITE_LOG_DEBUG, __VA_ARGS__)
#define KITE_INFO(...) kite_log(KITE_LOG_INFO, __VA_ARGS__)
#define KITE_WARN(...) kite_log(KITE_LOG_WARN, __VA_ARGS__)
#define KITE_ERROR(...) kite_log(KITE_LOG_ERROR, __VA_ARGS__)

#endif
