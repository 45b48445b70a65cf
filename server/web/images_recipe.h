/*
 * images_recipe.h — how the search-by-image application turns a picture into the
 * vector it stores and searches with.  Shared by the indexer and `kite embed` /
 * `kite images search` (app/) and the web page's upload search (server/web/), so
 * stored and query vectors always match.
 *
 * Recipe (measured on tuxpaint-stamps-default, precision@10 by category, 632
 * queries, default model = nsfwjs MobileNetV2 cut at block_13_expand_relu):
 *   preprocessing  centre crop 0.529 | pad (white) 0.547 | stretch 0.552
 *   + signed square root of each feature, then L2 again ("power normalisation";
 *     evens out the few dominant ReLU channels):   pad 0.565 | stretch 0.569
 * Stretching keeps the whole object (stamps and photos alike are often not
 * square; a centre crop cut off heads and tails).  Changing the recipe changes the
 * stored vectors: re-index (`kite images index` re-embeds nothing by itself).
 */
#ifndef KITE_SERVER_WEB_IMAGES_RECIPE_H
#define KITE_SERVER_WEB_IMAGES_RECIPE_H

#include <math.h>

#include "vision.h"

/* Set the preprocessing of the recipe on options made by kite_embed_opts_init(). */
static inline void images_recipe_opts(kite_embed_opts *o)
{
    o->pre.fit = KITE_FIT_STRETCH;
}

/* Post-process one embedding in place: signed sqrt, then unit length. */
static inline void images_recipe_post(float *v, int dim)
{
    double norm = 0.0;
    for (int i = 0; i < dim; i++) {
        float a = sqrtf(fabsf(v[i]));
        v[i] = v[i] < 0 ? -a : a;
        norm += (double)v[i] * v[i];
    }
    if (norm > 0) {
        float inv = (float)(1.0 / sqrt(norm));
        for (int i = 0; i < dim; i++)
            v[i] *= inv;
    }
}

#endif
