/* cmd-preprocess.c - clip-tool preprocess: an image as the model sees it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-io.h"
#include "tool-common.h"

/* Writes n floats as little-endian float32. */
static int
write_f32 (const char *path, const float *v, size_t n)
{
  FILE *fp = fopen (path, "wb");
  int ok;

  if (!fp) {
    int e = errno;
    return tool_fail (EXIT_RUNTIME, "%s: %s", path, g_strerror (e));
  }
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  ok = fwrite (v, sizeof (float), n, fp) == n;
#else
  size_t i;

  ok = TRUE;
  for (i = 0; i < n && ok; i++) {
    guint32 u;
    memcpy (&u, v + i, 4);
    u = GUINT32_TO_LE (u);
    ok = fwrite (&u, 4, 1, fp) == 1;
  }
#endif
  if (fclose (fp) != 0)
    ok = FALSE;
  if (!ok) {
    int e = errno;
    return tool_fail (EXIT_RUNTIME, "%s: %s", path, g_strerror (e));
  }
  return EXIT_OK;
}

static int
run (const ToolCommand * cmd, int argc, char **argv)
{
  gchar *output = NULL;
  const GOptionEntry entries[] = {
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
        "Writes OUT.png and OUT.f32 (required).", "OUT"},
    {NULL}
  };
  ClipFrame frame;
  ClipError err = { 0 };
  uint8_t *rgb = NULL, *crop = NULL;
  float *pixels = NULL;
  gchar *png_path = NULL, *f32_path = NULL;
  const char *image;
  GString *s = NULL;
  size_t n_pixels;
  int code, status, w, h;
  Tool t;

  if ((code = tool_parse (&t, cmd, entries, 1, 1, argc, argv)) != EXIT_OK)
    goto out;
  if (!output || !output[0]) {
    code = tool_fail_usage (cmd->name, "missing -o OUT");
    goto out;
  }
  if ((code = tool_open (&t, CLE_TOWER_VISION, 1, 0)) != EXIT_OK)
    goto out;
  image = t.args[0];
  if (!tool_load_image (image, &rgb, &frame)) {
    code = EXIT_RUNTIME;
    goto out;
  }
  w = t.info.crop_width;
  h = t.info.crop_height;
  n_pixels = (size_t) 3 * h * w;
  pixels = g_new (float, n_pixels);
  crop = g_new (uint8_t, n_pixels);
  status = cle_preprocess (t.ctx, &frame, pixels, n_pixels, crop, &err);
  if (status < 0) {
    code = tool_fail_clip (&err, status, image);
    goto out;
  }
  png_path = g_strconcat (output, ".png", NULL);
  f32_path = g_strconcat (output, ".f32", NULL);
  status = image_save_png (png_path, crop, w, h, &err);
  if (status < 0) {
    code = tool_fail_clip (&err, status, png_path);
    goto out;
  }
  if ((code = write_f32 (f32_path, pixels, n_pixels)) != EXIT_OK)
    goto out;

  s = g_string_new ("{\"image\": ");
  json_string (s, image);
  g_string_append (s, ", \"png\": ");
  json_string (s, png_path);
  g_string_append (s, ", \"f32\": ");
  json_string (s, f32_path);
  g_string_append_printf (s, ", \"shape\": [3, %d, %d]", h, w);
  json_emit_line (s);
  code = tool_finish_stdout (EXIT_OK);

out:
  if (s)
    g_string_free (s, TRUE);
  g_free (png_path);
  g_free (f32_path);
  g_free (pixels);
  g_free (crop);
  free (rgb);
  tool_close (&t);
  return code;
}

const ToolCommand tool_cmd_preprocess = {
  "preprocess", "MODEL IMAGE -o OUT",
  "Writes an image as the model sees it: OUT.png and OUT.f32.",
  "Preprocesses IMAGE as CLIPImageProcessor does and writes OUT.png (the "
      "resized and center-cropped uint8 RGB image) and OUT.f32 (the model "
      "input: float32 [3, H, W], little-endian).",
  run
};
