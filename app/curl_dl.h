/*
 * curl_dl.h — libcurl loaded at run time (dlopen), for the commands that talk to a running
 * server over HTTP (`kite images ... --server`, `kite backup --server`).  The binary does not
 * link libcurl, so `kite serve` and the embedded commands run where it is not installed.
 *
 * Threading: a loaded struct curl_api is read-only; each user owns its CURL handles.
 */
#ifndef KITE_APP_CURL_DL_H
#define KITE_APP_CURL_DL_H

#include <curl/curl.h>

#include "err.h"

struct curl_api {
    void *lib;
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
};

/* Load libcurl.so.4 and its symbols; KITE_EUNSUPPORTED with the reason when it cannot. */
int curl_api_load(struct curl_api *c, kite_err *err);
/* dlclose the library (safe on a zeroed or half-loaded struct). */
void curl_api_unload(struct curl_api *c);

#endif
