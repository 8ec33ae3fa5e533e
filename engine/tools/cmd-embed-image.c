/* cmd-embed-image.c - clip-tool embed-image: image embeddings, of image
 * files or of preprocessed pixel values. */
#include <string.h>

#include "tool-common.h"

static int
print_embedding (const char *path, int index, const float *embed,
    gpointer user_data)
{
  const Tool *t = user_data;
  GString *s = g_string_new (NULL);

  json_emit_embedding (s, "image", path, -1, embed, t->info.projection_dim);
  g_string_free (s, TRUE);
  return EXIT_OK;
}

/* Encodes the float32 CHW images concatenated in path (little-endian). */
static int
embed_pixel_values (Tool * t, const char *path, int batch)
{
  const ClipModelInfo *info = &t->info;
  GError *gerr = NULL;
  GMappedFile *mf;
  const guint8 *data;
  size_t size, image_floats, n_images, i, j;
  float *pixels = NULL, *embeds = NULL;
  GString *s = NULL;
  int code = EXIT_OK;

  mf = g_mapped_file_new (path, FALSE, &gerr);
  if (!mf) {
    code = tool_fail (EXIT_RUNTIME, "%s", gerr->message);
    g_error_free (gerr);
    return code;
  }
  data = (const guint8 *) g_mapped_file_get_contents (mf);
  size = g_mapped_file_get_length (mf);
  image_floats = (size_t) 3 * info->image_size * info->image_size;
  if (size == 0 || size % (image_floats * sizeof (float)) != 0) {
    code = tool_fail (EXIT_RUNTIME, "%s: %zu bytes is not a positive "
        "multiple of %zu, the size of one float32 image of shape [3, %d, %d]",
        path, size, image_floats * sizeof (float), info->image_size,
        info->image_size);
    goto out;
  }
  n_images = size / (image_floats * sizeof (float));
  pixels = g_new (float, image_floats * batch);
  embeds = g_new (float, (size_t) batch * info->projection_dim);
  s = g_string_new (NULL);

  for (i = 0; i < n_images; i += batch) {
    size_t k = MIN ((size_t) batch, n_images - i);
    ClipError err = { 0 };
    int status;

    memcpy (pixels, data + i * image_floats * sizeof (float),
        k * image_floats * sizeof (float));
#if G_BYTE_ORDER == G_BIG_ENDIAN
    for (j = 0; j < k * image_floats; j++) {
      guint32 *u = (guint32 *) (pixels + j);
      *u = GUINT32_FROM_LE (*u);
    }
#endif
    status = cle_encode_images (t->ctx, pixels, (int) k, embeds,
        k * info->projection_dim, &err);
    if (status < 0) {
      code = tool_fail_clip (&err, status, path);
      goto out;
    }
    for (j = 0; j < k; j++)
      json_emit_embedding (s, "image", path, (long) (i + j),
          embeds + j * info->projection_dim, info->projection_dim);
  }

out:
  if (s)
    g_string_free (s, TRUE);
  g_free (pixels);
  g_free (embeds);
  g_mapped_file_unref (mf);
  return code;
}

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gchar *pixel_values = NULL;
  gint batch = DEFAULT_BATCH_IMAGES;
  const GOptionEntry entries[] = {
    {"pixel-values", 'p', 0, G_OPTION_ARG_FILENAME, &pixel_values,
          "Encodes preprocessed images instead: float32 [N, 3, S, S], "
          "little-endian, as 'preprocess' writes them.", "FILE.f32"},
    TOOL_BATCH_ENTRY (batch, "Encodes N images per engine call (default "
        G_STRINGIFY (DEFAULT_BATCH_IMAGES) ")."),
    {NULL}
  };
  Tool t;
  int code;

  if ((code = tool_parse (&t, cmd, entries, 0, -1, argc, argv)) != EXIT_OK
      || (code = tool_check_batch (&t, batch)) != EXIT_OK)
    goto out;
  if (t.n_args == 0 && !pixel_values) {
    code = tool_fail_usage (cmd->name, "no image: give IMAGE arguments or "
        "--pixel-values");
    goto out;
  }
  if (t.n_args > 0 && pixel_values) {
    code = tool_fail_usage (cmd->name, "give IMAGE arguments or "
        "--pixel-values, not both");
    goto out;
  }
  if ((code = tool_open (&t, CLE_TOWER_VISION, batch, 0)) != EXIT_OK)
    goto out;
  if (pixel_values)
    code = embed_pixel_values (&t, pixel_values, batch);
  else
    code = tool_encode_image_files (&t, t.args, t.n_args, batch,
        print_embedding, &t);
  code = tool_finish_stdout (code);

out:
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_embed_image = {
  "embed-image", "MODEL IMAGE...",
  "Prints the embedding of each image.",
  "Prints the image embedding (get_image_features, not normalized) of each "
      "IMAGE (PNG, JPEG or PPM), preprocessed as CLIPImageProcessor does. "
      "An image that cannot be read is reported and the others are still "
      "encoded; the exit status is then 1.",
  run
};
