/* pipelines.c: runs every pipelines/ example as a user would, with the
 * sources and sinks swapped for test ones through the scripts' environment
 * variables, and parses what they wrote back with json-glib. */

#include <string.h>
#include <sys/wait.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <json-glib/json-glib.h>

typedef struct
{
  gint status;                  /* exit status, or -1 when killed */
  gchar *out, *err;
} RunResult;

static void
run_result_clear (RunResult * r)
{
  g_free (r->out);
  g_free (r->err);
}

static gchar *
script_path (const gchar * name)
{
  const gchar *root = g_getenv ("CLIP_SOURCE_ROOT");

  fail_unless (root != NULL, "CLIP_SOURCE_ROOT is not set");
  return g_build_filename (root, "pipelines", name, NULL);
}

static gchar *
image_path (const gchar * name)
{
  return g_build_filename (g_getenv ("CLIP_TEST_DATA"), "tiny-clip",
      "reference", "images", name, NULL);
}

/* Runs "sh pipelines/SCRIPT ARGS..." with the test environment plus @env
 * ("KEY=VALUE" strings, NULL-terminated). */
static void
run_script (const gchar * script, const gchar * const *args,
    const gchar * const *env, RunResult * r)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  gchar **envp = g_get_environ ();
  GError *error = NULL;
  gint wait_status;
  guint i;

  g_ptr_array_add (argv, g_strdup ("sh"));
  g_ptr_array_add (argv, script_path (script));
  for (i = 0; args && args[i]; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  envp = g_environ_setenv (envp, "CLIP_MODEL", g_getenv ("CLIP_TEST_MODEL"),
      TRUE);
  envp = g_environ_setenv (envp, "CLIP_THREADS", "2", TRUE);
  for (i = 0; env && env[i]; i++) {
    gchar **kv = g_strsplit (env[i], "=", 2);
    envp = g_environ_setenv (envp, kv[0], kv[1], TRUE);
    g_strfreev (kv);
  }

  fail_unless (g_spawn_sync (NULL, (gchar **) argv->pdata, envp,
          G_SPAWN_SEARCH_PATH, NULL, NULL, &r->out, &r->err, &wait_status,
          &error), "%s", error ? error->message : "");
  r->status = WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : -1;
  GST_INFO ("%s: exit %d\nstdout:\n%s\nstderr:\n%s", script, r->status,
      r->out, r->err);

  g_strfreev (envp);
  g_ptr_array_unref (argv);
}

/* Parses JSON Lines text; every line must be a whole object with the fields
 * clipjson promises. Returns the objects. */
static GPtrArray *
parse_jsonl (const gchar * text)
{
  GPtrArray *objs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      json_node_unref);
  gchar **lines;
  guint i;

  if (text[0])
    fail_unless (g_str_has_suffix (text, "\n"), "incomplete last line");
  lines = g_strsplit (text, "\n", -1);
  for (i = 0; lines[i] && lines[i][0]; i++) {
    JsonParser *p = json_parser_new ();
    GError *err = NULL;
    JsonObject *o;
    JsonArray *tensors;

    fail_unless (json_parser_load_from_data (p, lines[i], -1, &err),
        "line %u is not JSON (%s): %s", i, err ? err->message : "", lines[i]);
    o = json_node_get_object (json_parser_get_root (p));
    fail_unless (json_object_has_member (o, "pts"));
    fail_unless (json_object_has_member (o, "frame_number"));
    tensors = json_object_get_array_member (o, "tensors");
    fail_unless (tensors != NULL && json_array_get_length (tensors) > 0);
    fail_unless (json_object_has_member (json_array_get_object_element
            (tensors, 0), "label"));
    fail_unless (json_object_has_member (json_array_get_object_element
            (tensors, 0), "confidence"));
    g_ptr_array_add (objs, json_node_ref (json_parser_get_root (p)));
    g_object_unref (p);
  }
  g_strfreev (lines);
  return objs;
}

static GPtrArray *
parse_jsonl_file (const gchar * path)
{
  gchar *contents;
  GPtrArray *objs;

  fail_unless (g_file_get_contents (path, &contents, NULL, NULL), "%s", path);
  objs = parse_jsonl (contents);
  g_free (contents);
  return objs;
}

static gint64
member_int (GPtrArray * objs, guint i, const gchar * name)
{
  return json_object_get_int_member (json_node_get_object
      (g_ptr_array_index (objs, i)), name);
}

static void
rm_rf (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  if (!d)
    return;
  while ((name = g_dir_read_name (d))) {
    gchar *p = g_build_filename (dir, name, NULL);
    g_unlink (p);
    g_free (p);
  }
  g_dir_close (d);
  g_rmdir (dir);
}

/* ------------------------------------------------------- tag-file.sh -- */

GST_START_TEST (test_tag_file_image)
{
  gchar *dir = g_dir_make_tmp ("pipelines-XXXXXX", NULL);
  gchar *in = image_path ("img1_640x480.png");
  gchar *out = g_build_filename (dir, "out.jsonl", NULL);
  const gchar *args[] = { in, out, NULL };
  RunResult r;
  GPtrArray *objs;
  JsonObject *res;

  run_script ("tag-file.sh", args, NULL, &r);
  fail_unless_equals_int (r.status, 0);
  objs = parse_jsonl_file (out);
  fail_unless_equals_int (objs->len, 1);
  res = json_object_get_object_member (json_node_get_object
      (g_ptr_array_index (objs, 0)), "resolution");
  fail_unless_equals_int (json_object_get_int_member (res, "width"), 640);
  fail_unless_equals_int (json_object_get_int_member (res, "height"), 480);

  g_ptr_array_unref (objs);
  run_result_clear (&r);
  rm_rf (dir);
  g_free (out);
  g_free (in);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_tag_file_test_source)
{
  gchar *dir = g_dir_make_tmp ("pipelines-XXXXXX", NULL);
  gchar *out = g_build_filename (dir, "out.jsonl", NULL);
  const gchar *args[] = { "unused", out, NULL };
  const gchar *env[] = { "CLIP_SOURCE=videotestsrc num-buffers=10",
    "CLIP_INTERVAL=2", "CLIP_LABELS=red,green,blue", NULL
  };
  RunResult r;
  GPtrArray *objs;
  guint i;

  run_script ("tag-file.sh", args, env, &r);
  fail_unless_equals_int (r.status, 0);
  objs = parse_jsonl_file (out);
  fail_unless_equals_int (objs->len, 5);
  for (i = 0; i < objs->len; i++)
    fail_unless_equals_int64 (member_int (objs, i, "frame_number"), 2 * i);

  g_ptr_array_unref (objs);
  run_result_clear (&r);
  rm_rf (dir);
  g_free (out);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_tag_file_errors)
{
  const gchar *missing[] = { "/nonexistent/video.mp4", "/tmp/x.jsonl", NULL };
  gchar *in = image_path ("img1_640x480.png");
  const gchar *args[] = { in, "/dev/null", NULL };
  const gchar *bad_model[] = { "CLIP_MODEL=/nonexistent/model", NULL };
  RunResult r;

  run_script ("tag-file.sh", NULL, NULL, &r);
  fail_unless_equals_int (r.status, 2);       /* usage */
  run_result_clear (&r);

  run_script ("tag-file.sh", missing, NULL, &r);
  fail_unless (r.status != 0);
  fail_unless (strstr (r.err, "/nonexistent/video.mp4") != NULL);
  run_result_clear (&r);

  run_script ("tag-file.sh", args, bad_model, &r);
  fail_unless (r.status != 0);
  fail_unless (strstr (r.err, "/nonexistent/model") != NULL, "%s", r.err);
  run_result_clear (&r);
  g_free (in);
}

GST_END_TEST;

/* ---------------------------------------------------- live-camera.sh -- */

GST_START_TEST (test_live_camera_test_source)
{
  gchar *dir = g_dir_make_tmp ("pipelines-XXXXXX", NULL);
  gchar *out = g_build_filename (dir, "live.jsonl", NULL);
  gchar *out_env = g_strconcat ("CLIP_OUTPUT=", out, NULL);
  const gchar *args[] = { "--test", NULL };
  const gchar *env[] = { "CLIP_NUM_BUFFERS=30", "CLIP_SINK=fakesink",
    out_env, NULL
  };
  RunResult r;
  GPtrArray *objs;
  guint i;

  run_script ("live-camera.sh", args, env, &r);
  fail_unless_equals_int (r.status, 0);
  objs = parse_jsonl_file (out);
  /* async: how many frames get scored depends on the machine, but at 30 fps
   * for a second the tiny model scores some */
  fail_unless (objs->len >= 1);
  for (i = 1; i < objs->len; i++)
    fail_unless (member_int (objs, i, "pts") > member_int (objs, i - 1,
            "pts"));
  /* a result rides on a frame after the one it describes */
  for (i = 0; i < objs->len; i++)
    fail_unless (member_int (objs, i, "frame_number") >= 1);

  g_ptr_array_unref (objs);
  run_result_clear (&r);
  rm_rf (dir);
  g_free (out_env);
  g_free (out);
  g_free (dir);
}

GST_END_TEST;

/* No output file: JSON Lines on stdout, and nothing else there. A camera
 * that is not there falls back to the test source. */
GST_START_TEST (test_live_camera_stdout_fallback)
{
  const gchar *args[] = { "/dev/nonexistent-video", NULL };
  const gchar *env[] = { "CLIP_NUM_BUFFERS=30", "CLIP_SINK=fakesink", NULL };
  RunResult r;
  GPtrArray *objs;

  run_script ("live-camera.sh", args, env, &r);
  fail_unless_equals_int (r.status, 0);
  fail_unless (strstr (r.err, "test source") != NULL);
  objs = parse_jsonl (r.out);
  fail_unless (objs->len >= 1);
  g_ptr_array_unref (objs);
  run_result_clear (&r);
}

GST_END_TEST;

/* -------------------------------------------------- sweep-archive.sh -- */

static void
copy_file (const gchar * from, const gchar * to)
{
  gchar *contents;
  gsize len;

  fail_unless (g_file_get_contents (from, &contents, &len, NULL));
  fail_unless (g_file_set_contents (to, contents, len, NULL));
  g_free (contents);
}

GST_START_TEST (test_sweep_archive)
{
  gchar *in_dir = g_dir_make_tmp ("sweep-in-XXXXXX", NULL);
  gchar *out_dir = g_dir_make_tmp ("sweep-out-XXXXXX", NULL);
  gchar *p, *q;
  const gchar *args[] = { in_dir, out_dir, NULL };
  const gchar *env[] = { "CLIP_INTERVAL=1", NULL };
  RunResult r;
  GPtrArray *objs;

  p = image_path ("img1_640x480.png");
  q = g_build_filename (in_dir, "first.png", NULL);
  copy_file (p, q);
  g_free (p);
  g_free (q);
  p = image_path ("img7_97x61.png");
  q = g_build_filename (in_dir, "second clip.PNG", NULL);
  copy_file (p, q);
  g_free (p);
  g_free (q);
  /* not a video: ignored; a broken video: reported, the sweep goes on */
  q = g_build_filename (in_dir, "notes.txt", NULL);
  fail_unless (g_file_set_contents (q, "hello", -1, NULL));
  g_free (q);
  q = g_build_filename (in_dir, "broken.mp4", NULL);
  fail_unless (g_file_set_contents (q, "this is not a video file", -1,
          NULL));

  run_script ("sweep-archive.sh", args, env, &r);
  fail_unless_equals_int (r.status, 1);
  fail_unless (strstr (r.err, "broken.mp4") != NULL);
  run_result_clear (&r);

  p = g_build_filename (out_dir, "first.jsonl", NULL);
  objs = parse_jsonl_file (p);
  fail_unless_equals_int (objs->len, 1);
  g_ptr_array_unref (objs);
  g_free (p);
  p = g_build_filename (out_dir, "second clip.jsonl", NULL);
  objs = parse_jsonl_file (p);
  fail_unless_equals_int (objs->len, 1);
  g_ptr_array_unref (objs);
  g_free (p);
  p = g_build_filename (out_dir, "broken.jsonl", NULL);
  fail_if (g_file_test (p, G_FILE_TEST_EXISTS));
  g_free (p);
  p = g_build_filename (out_dir, "broken.jsonl.part", NULL);
  fail_if (g_file_test (p, G_FILE_TEST_EXISTS));
  g_free (p);
  p = g_build_filename (out_dir, "notes.jsonl", NULL);
  fail_if (g_file_test (p, G_FILE_TEST_EXISTS));
  g_free (p);

  /* again, without the broken file: nothing left to do */
  g_unlink (q);
  g_free (q);
  run_script ("sweep-archive.sh", args, env, &r);
  fail_unless_equals_int (r.status, 0);
  fail_unless (strstr (r.err, "2 already done") != NULL, "%s", r.err);
  run_result_clear (&r);

  rm_rf (in_dir);
  rm_rf (out_dir);
  g_free (in_dir);
  g_free (out_dir);
}

GST_END_TEST;

static Suite *
pipelines_suite (void)
{
  Suite *s = suite_create ("pipelines");
  TCase *tc = tcase_create ("scripts");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_tag_file_image);
  tcase_add_test (tc, test_tag_file_test_source);
  tcase_add_test (tc, test_tag_file_errors);
  tcase_add_test (tc, test_live_camera_test_source);
  tcase_add_test (tc, test_live_camera_stdout_fallback);
  tcase_add_test (tc, test_sweep_archive);
  return s;
}

GST_CHECK_MAIN (pipelines);
