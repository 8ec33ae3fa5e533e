/* ann-faiss.h - the approximate index for archives beyond what an exact
 * scan serves fast enough: FAISS' IVF with an 8-bit scalar quantizer
 * (inner product), trained on the rows of an index folder's shards. Built
 * only with -Dfaiss=enabled (Debian's libfaiss-dev has no C API: this is
 * its C face, ann-faiss.cpp). Row ids are the rows' places among all the
 * shards' rows, as cle_search_f16 numbers them. */
#ifndef CLIP_ANN_FAISS_H
#define CLIP_ANN_FAISS_H

#include <stddef.h>

#include "clip.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ClipAnn ClipAnn;

/* Trains an IVF index of nlist lists (0: sqrt of the rows) on n_train rows
 * (0: 39 per list, FAISS' minimum advice) taken evenly from blocks, adds
 * every row and writes it to path (aside, then renamed). Returns 0, or -1
 * with err filled. */
int clip_ann_build (const char *path, const ClipRowBlock * blocks,
    int n_blocks, int dim, int nlist, size_t n_train, char *err,
    size_t n_err);

int clip_ann_open (ClipAnn ** out, const char *path, char *err, size_t n_err);
void clip_ann_free (ClipAnn * ann);
size_t clip_ann_rows (const ClipAnn * ann);
int clip_ann_dim (const ClipAnn * ann);
int clip_ann_nlist (const ClipAnn * ann);

/* The k best rows for query (dim floats) over nprobe lists, best first;
 * returns how many (fewer than k when the lists hold fewer rows). */
int clip_ann_search (const ClipAnn * ann, const float *query, int k,
    int nprobe, ClipSearchHit * hits);

#ifdef __cplusplus
}
#endif
#endif
