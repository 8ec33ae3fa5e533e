/* tool-input.c - the inputs of the clip-tool commands: texts from the
 * command line and --file, image files loaded and encoded in batches
 * (tool-common.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-io.h"
#include "tool-common.h"

/* -------------------------------------------------------------- texts -- */

int
text_source_open (TextSource * src, char **args, const char *path)
{
  memset (src, 0, sizeof *src);
  src->args = args;
  src->path = path;
  if (!path)
    return EXIT_OK;
  if (strcmp (path, "-") == 0) {
    src->fp = stdin;
    return EXIT_OK;
  }
  src->fp = fopen (path, "rb");
  if (!src->fp) {
    int e = errno;
    return tool_fail (EXIT_RUNTIME, "%s: %s", path, g_strerror (e));
  }
  return EXIT_OK;
}

int
text_source_open_args (TextSource * src, const Tool * t, const char *file)
{
  memset (src, 0, sizeof *src);
  if (t->n_args == 0 && !file)
    return tool_fail_usage (t->cmd->name, "no text: give TEXT arguments or "
        "--file");
  return text_source_open (src, t->args, file);
}

void
text_source_close (TextSource * src)
{
  if (src->fp && src->fp != stdin)
    fclose (src->fp);
  free (src->line);
  memset (src, 0, sizeof *src);
}

int
text_source_next (TextSource * src, const char **text)
{
  ssize_t len;

  if (src->args && src->args[src->i_arg]) {
    *text = src->args[src->i_arg++];
    if (!g_utf8_validate (*text, -1, NULL)) {
      tool_fail (EXIT_RUNTIME, "argument %d: text is not valid UTF-8",
          src->i_arg);
      return -1;
    }
    return 1;
  }
  if (!src->fp)
    return 0;
  errno = 0;
  len = getline (&src->line, &src->line_cap, src->fp);
  if (len < 0) {
    if (ferror (src->fp)) {
      int e = errno;
      tool_fail (EXIT_RUNTIME, "%s: %s", src->path, g_strerror (e));
      return -1;
    }
    return 0;
  }
  src->line_no++;
  if (len > 0 && src->line[len - 1] == '\n')
    src->line[--len] = '\0';
  if (len > 0 && src->line[len - 1] == '\r')
    src->line[--len] = '\0';
  /* Also rejects a NUL byte inside the line. */
  if (!g_utf8_validate (src->line, len, NULL)) {
    tool_fail (EXIT_RUNTIME, "%s:%ld: text is not valid UTF-8", src->path,
        src->line_no);
    return -1;
  }
  *text = src->line;
  return 1;
}

/* ------------------------------------------------------------- images -- */

gboolean
tool_load_image (const char *path, uint8_t ** rgb, ClipFrame * frame)
{
  ClipError err = { 0 };
  int w = 0, h = 0, status;

  *rgb = NULL;
  status = image_load_rgb (path, rgb, &w, &h, &err);
  if (status < 0) {
    tool_fail_clip (&err, status, path);
    free (*rgb);
    *rgb = NULL;
    return FALSE;
  }
  memset (frame, 0, sizeof *frame);
  frame->format = CLE_PIXEL_RGB;
  frame->width = w;
  frame->height = h;
  frame->planes[0] = *rgb;
  frame->strides[0] = 3 * w;
  return TRUE;
}

/* One batch of loaded images: their frames, pixels and input indices. */
typedef struct
{
  ClipFrame *frames;
  uint8_t **rgbs;
  int *index;
  int n;
} ImageBatch;

/* Encodes batch items [first, first + n) and hands each embedding to func;
 * returns the number of images that failed. When the call fails, the
 * images are retried one by one so that the error names the image. */
static int
encode_batch (Tool * t, const ImageBatch * b, int first, int n,
    char **paths, float *embeds, ToolImageFunc func, gpointer user_data)
{
  int proj = t->info.projection_dim, failed = 0, i, status;
  ClipError err = { 0 };

  status = cle_encode_frames (t->ctx, b->frames + first, n, embeds,
      (size_t) n * proj, &err);
  if (status < 0 && n == 1) {
    tool_fail_clip (&err, status, paths[b->index[first]]);
    return 1;
  }
  for (i = 0; i < n; i++) {
    int k = b->index[first + i];

    if (status < 0)
      failed += encode_batch (t, b, first + i, 1, paths, embeds, func,
          user_data);
    else if (func (paths[k], k, embeds + (size_t) i * proj,
            user_data) != EXIT_OK)
      failed++;
  }
  return failed;
}

int
tool_encode_image_files (Tool * t, char **paths, int n_paths, int batch,
    ToolImageFunc func, gpointer user_data)
{
  ImageBatch b = { 0 };
  float *embeds = g_new (float, (size_t) batch * t->info.projection_dim);
  int failed = 0, next = 0, j;

  b.frames = g_new0 (ClipFrame, batch);
  b.rgbs = g_new0 (uint8_t *, batch);
  b.index = g_new0 (int, batch);
  while (next < n_paths) {
    /* Up to batch images that load; the others are reported and skipped. */
    for (b.n = 0; b.n < batch && next < n_paths; next++) {
      if (tool_load_image (paths[next], &b.rgbs[b.n], &b.frames[b.n]))
        b.index[b.n++] = next;
      else
        failed++;
    }
    if (b.n > 0)
      failed += encode_batch (t, &b, 0, b.n, paths, embeds, func, user_data);
    for (j = 0; j < b.n; j++)
      g_clear_pointer (&b.rgbs[j], free);
  }
  g_free (b.frames);
  g_free (b.rgbs);
  g_free (b.index);
  g_free (embeds);
  if (failed > 0 && n_paths > 1)
    tool_fail (EXIT_RUNTIME, "%d of %d images failed", failed, n_paths);
  return failed > 0 ? EXIT_RUNTIME : EXIT_OK;
}
