// ann-faiss.cpp - the C face of the FAISS index that ann-faiss.h declares:
// IndexIVFScalarQuantizer (QT_8bit, inner product) over a flat coarse
// quantizer. Nothing else of FAISS is used; rows are widened from float16
// in blocks, never all at once.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/index_io.h>

#include "ann-faiss.h"

struct ClipAnn
{
  faiss::IndexIVF *index;
};

// rows converted and added per call: 64 Ki rows of 512 floats = 128 MB
static const size_t ADD_BLOCK = 65536;

static void
set_err (char *err, size_t n_err, const char *what, const char *why)
{
  if (err && n_err)
    snprintf (err, n_err, "%s: %s", what, why);
}

// row i of all blocks, widened into out
static void
row_f32 (const ClipRowBlock * blocks, int n_blocks, int dim, size_t i,
    float *out)
{
  for (int b = 0; b < n_blocks; b++) {
    if (i < blocks[b].n_rows) {
      cle_f16_to_f32 (out, blocks[b].rows + i * (size_t) dim, dim);
      return;
    }
    i -= blocks[b].n_rows;
  }
}

extern "C" int
clip_ann_build (const char *path, const ClipRowBlock * blocks, int n_blocks,
    int dim, int nlist, size_t n_train, char *err, size_t n_err)
{
  size_t n = 0;
  for (int b = 0; b < n_blocks; b++)
    n += blocks[b].n_rows;
  if (nlist <= 0)
    nlist = (int) std::max (1.0, std::sqrt ((double) n));
  if (n_train == 0)
    n_train = 39 * (size_t) nlist;
  n_train = std::min (n_train, n);
  if (n < (size_t) nlist) {
    char why[128];
    snprintf (why, sizeof why, "%zu rows, fewer than the %d lists", n, nlist);
    set_err (err, n_err, path, why);
    return -1;
  }
  try {
    faiss::IndexFlatIP *quantizer = new faiss::IndexFlatIP (dim);
    faiss::IndexIVFScalarQuantizer index (quantizer, dim, nlist,
        faiss::ScalarQuantizer::QT_8bit, faiss::METRIC_INNER_PRODUCT);
    index.own_fields = true;

    // training rows: evenly spaced over all rows
    std::vector < float >x (n_train * (size_t) dim);
    for (size_t i = 0; i < n_train; i++)
      row_f32 (blocks, n_blocks, dim, i * n / n_train, &x[i * dim]);
    index.train (n_train, x.data ());

    x.resize (std::min (n, ADD_BLOCK) * (size_t) dim);
    for (size_t first = 0; first < n; first += ADD_BLOCK) {
      size_t m = std::min (ADD_BLOCK, n - first);
      for (size_t i = 0; i < m; i++)
        row_f32 (blocks, n_blocks, dim, first + i, &x[i * dim]);
      std::vector < faiss::Index::idx_t > ids (m);
      for (size_t i = 0; i < m; i++)
        ids[i] = (faiss::Index::idx_t) (first + i);
      index.add_with_ids (m, x.data (), ids.data ());
    }
    std::string part = std::string (path) + ".part";
    faiss::write_index (&index, part.c_str ());
    if (std::rename (part.c_str (), path) != 0) {
      set_err (err, n_err, path, std::strerror (errno));
      return -1;
    }
  } catch (const std::exception & e) {
    set_err (err, n_err, path, e.what ());
    return -1;
  }
  return 0;
}

extern "C" int
clip_ann_open (ClipAnn ** out, const char *path, char *err, size_t n_err)
{
  *out = nullptr;
  try {
    faiss::Index *index = faiss::read_index (path);
    faiss::IndexIVF *ivf = dynamic_cast < faiss::IndexIVF * >(index);
    if (!ivf) {
      delete index;
      set_err (err, n_err, path, "not an IVF index");
      return -1;
    }
    *out = new ClipAnn { ivf };
  } catch (const std::exception & e) {
    set_err (err, n_err, path, e.what ());
    return -1;
  }
  return 0;
}

extern "C" void
clip_ann_free (ClipAnn * ann)
{
  if (ann) {
    delete ann->index;
    delete ann;
  }
}

extern "C" size_t
clip_ann_rows (const ClipAnn * ann)
{
  return ann->index->ntotal;
}

extern "C" int
clip_ann_dim (const ClipAnn * ann)
{
  return ann->index->d;
}

extern "C" int
clip_ann_nlist (const ClipAnn * ann)
{
  return (int) ann->index->nlist;
}

extern "C" int
clip_ann_search (const ClipAnn * ann, const float *query, int k, int nprobe,
    ClipSearchHit * hits)
{
  std::vector < float >d (k);
  std::vector < faiss::Index::idx_t > ids (k);
  faiss::SearchParametersIVF params;
  params.nprobe = std::max (1, std::min (nprobe, (int) ann->index->nlist));
  ann->index->search (1, query, k, d.data (), ids.data (), &params);
  int n = 0;
  for (int i = 0; i < k; i++)
    if (ids[i] >= 0)
      hits[n++] = ClipSearchHit { (size_t) ids[i], d[i] };
  return n;
}
