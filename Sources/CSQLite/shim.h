#ifndef PARTNER_EXPORT_CSQLITE_SHIM_H
#define PARTNER_EXPORT_CSQLITE_SHIM_H
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a macro casting -1 to a function pointer; Swift cannot import it. */
static inline int pe_sqlite3_bind_text_copy(sqlite3_stmt *stmt, int index, const char *bytes, int length) {
    return sqlite3_bind_text(stmt, index, bytes, length, SQLITE_TRANSIENT);
}
static inline int pe_sqlite3_bind_blob_copy(sqlite3_stmt *stmt, int index, const void *bytes, int length) {
    return sqlite3_bind_blob(stmt, index, bytes, length, SQLITE_TRANSIENT);
}
/* sqlite3_config is variadic. Memory statistics take a global mutex on every allocation; the tool
   never reads them. Must run before the first connection opens; returns SQLITE_MISUSE after. */
static inline int pe_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
