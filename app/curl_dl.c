/* curl_dl.c — libcurl through dlopen (see curl_dl.h). */
#include "curl_dl.h"

#include <dlfcn.h>
#include <string.h>

int curl_api_load(struct curl_api *c, kite_err *err)
{
    memset(c, 0, sizeof(*c));
    c->lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!c->lib)
        return kite_err_set(err, KITE_EUNSUPPORTED,
                            "--server needs libcurl (apt-get install libcurl4): %s", dlerror());
    struct {
        void *dst;
        const char *sym;
    } t[] = {
        {&c->easy_init, "curl_easy_init"},       {&c->easy_setopt, "curl_easy_setopt"},
        {&c->easy_perform, "curl_easy_perform"}, {&c->easy_getinfo, "curl_easy_getinfo"},
        {&c->easy_cleanup, "curl_easy_cleanup"}, {&c->easy_strerror, "curl_easy_strerror"},
        {&c->slist_append, "curl_slist_append"}, {&c->slist_free_all, "curl_slist_free_all"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        void *p = dlsym(c->lib, t[i].sym);
        if (!p) {
            curl_api_unload(c);
            return kite_err_set(err, KITE_EUNSUPPORTED, "libcurl lacks %s", t[i].sym);
        }
        memcpy(t[i].dst, &p, sizeof(p)); /* object -> function pointer without a cast */
    }
    return KITE_OK;
}

void curl_api_unload(struct curl_api *c)
{
    if (c->lib)
        dlclose(c->lib);
    c->lib = NULL;
}
