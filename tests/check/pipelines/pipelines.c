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
 * ("KEY=VALUE" strings, NULL-terminated); CLIP_MODEL is the test model
 * unless @default_model, when the script picks its own default. */
static void
run_script_full (const gchar * script, const gchar * const *args,
    const gchar * const *env, gboolean default_model, RunResult * r)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  gchar **envp = g_get_environ ();
  GError *error = NULL;
  gint wait_status;
  guint i;

  /* a hang is a failure (status 124), never a stalled suite */
  g_ptr_array_add (argv, g_strdup ("timeout"));
  g_ptr_array_add (argv, g_strdup ("-k"));
  g_ptr_array_add (argv, g_strdup ("5"));
  g_ptr_array_add (argv, g_strdup ("120"));
  g_ptr_array_add (argv, g_strdup ("sh"));
  g_ptr_array_add (argv, script_path (script));
  for (i = 0; args && args[i]; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  if (default_model)
    envp = g_environ_unsetenv (envp, "CLIP_MODEL");
  else
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
  fail_if (r->status == 124 || r->status == 137, "%s hung: %s", script,
      r->err);
  GST_INFO ("%s: exit %d\nstdout:\n%s\nstderr:\n%s", script, r->status,
      r->out, r->err);

  g_strfreev (envp);
  g_ptr_array_unref (argv);
}

static void
run_script (const gchar * script, const gchar * const *args,
    const gchar * const *env, RunResult * r)
{
  run_script_full (script, args, env, FALSE, r);
}

static void
run_script_default_model (const gchar * script, const gchar * const *args,
    const gchar * const *env, RunResult * r)
{
  run_script_full (script, args, env, TRUE, r);
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

/* "clipclassify0: N frames: K classified, ..." from clip-launch's stderr */
static guint64
classified_count (const gchar * err)
{
  const gchar *line = strstr (err, "clipclassify0: ");
  guint64 n_in, n_classified;

  fail_unless (line != NULL, "no frame counters in: %s", err);
  fail_unless_equals_int (sscanf (line, "clipclassify0: %" G_GUINT64_FORMAT
          " frames: %" G_GUINT64_FORMAT " classified", &n_in, &n_classified),
      2);
  return n_classified;
}

/* @dir and everything in it */
static void
rm_rf (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  if (!d)
    return;
  while ((name = g_dir_read_name (d))) {
    gchar *p = g_build_filename (dir, name, NULL);

    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      rm_rf (p);
    else
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

/* tag-file.sh on a test source (@env sets CLIP_SOURCE and the rest), into
 * a file of its own that is gone afterwards: the run must succeed; returns
 * the lines, and the run (its stderr) in @r. */
static GPtrArray *
tag_test_source (const gchar * const *env, RunResult * r)
{
  gchar *dir = g_dir_make_tmp ("pipelines-XXXXXX", NULL);
  gchar *out = g_build_filename (dir, "out.jsonl", NULL);
  const gchar *args[] = { "unused", out, NULL };
  GPtrArray *objs;

  run_script ("tag-file.sh", args, env, r);
  fail_unless_equals_int (r->status, 0);
  objs = parse_jsonl_file (out);
  rm_rf (dir);
  g_free (out);
  g_free (dir);
  return objs;
}

GST_START_TEST (test_tag_file_test_source)
{
  const gchar *env[] = { "CLIP_SOURCE=videotestsrc num-buffers=10",
    "CLIP_INTERVAL=2", "CLIP_LABELS=red,green,blue", NULL
  };
  RunResult r;
  GPtrArray *objs;
  guint i;

  objs = tag_test_source (env, &r);
  fail_unless_equals_int (objs->len, 5);
  for (i = 0; i < objs->len; i++)
    fail_unless_equals_int64 (member_int (objs, i, "frame_number"), 2 * i);

  g_ptr_array_unref (objs);
  run_result_clear (&r);
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

/* A sink that drops late frames (qos=true, as every real video sink) must
 * not cost a single classification in sync mode: the identity makes every
 * frame late. */
GST_START_TEST (test_tag_file_qos_sink)
{
  const gchar *env[] = {
    "CLIP_SOURCE=videotestsrc num-buffers=40 ! video/x-raw,framerate=30/1",
    "CLIP_SINK=identity sleep-time=60000 ! fakesink sync=true qos=true",
    NULL
  };
  RunResult r;
  GPtrArray *objs;
  guint i;

  objs = tag_test_source (env, &r);
  fail_unless_equals_int (objs->len, 40);
  for (i = 0; i < objs->len; i++)
    fail_unless_equals_int64 (member_int (objs, i, "frame_number"), i);
  fail_unless (strstr (r.err, "40 frames: 40 classified") != NULL, "%s",
      r.err);

  g_ptr_array_unref (objs);
  run_result_clear (&r);
}

GST_END_TEST;

/* After concat, pts and stream time restart at 0; running_time goes on. */
GST_START_TEST (test_tag_file_concat_running_time)
{
  const gchar *env[] = {
    "CLIP_SOURCE=concat name=c videotestsrc num-buffers=4 ! c. "
        "videotestsrc num-buffers=4 ! c. c.", NULL
  };
  RunResult r;
  GPtrArray *objs;
  guint i;

  objs = tag_test_source (env, &r);
  fail_unless_equals_int (objs->len, 8);
  fail_unless_equals_int64 (member_int (objs, 4, "pts"), 0);
  for (i = 1; i < objs->len; i++)
    fail_unless (member_int (objs, i, "running_time") >
        member_int (objs, i - 1, "running_time"), "line %u", i);

  g_ptr_array_unref (objs);
  run_result_clear (&r);
}

GST_END_TEST;

/* Frames the model cannot take are counted, warned about, and the stream
 * goes on to its end. */
GST_START_TEST (test_tag_file_odd_frames)
{
  const gchar *env[] = {
    "CLIP_SOURCE=videotestsrc num-buffers=3 ! video/x-raw,width=8192,height=1",
    NULL
  };
  RunResult r;
  GPtrArray *objs;

  objs = tag_test_source (env, &r);
  fail_unless_equals_int (objs->len, 0);
  fail_unless (strstr (r.err, "WARNING") != NULL, "%s", r.err);
  fail_unless (strstr (r.err, "8192x1") != NULL, "%s", r.err);
  fail_unless (strstr (r.err, "3 not classified (frame rejected)") != NULL,
      "%s", r.err);

  g_ptr_array_unref (objs);
  run_result_clear (&r);
}

GST_END_TEST;

/* Writes a small MJPEG Matroska file with clip-launch, then keeps the first
 * @keep bytes of it (0: all). */
static gchar *
make_video (const gchar * dir, const gchar * name, gsize keep)
{
  gchar *path = g_build_filename (dir, name, NULL);
  gchar *loc = g_strconcat ("location=", path, NULL);
  const gchar *argv[] = { g_getenv ("CLIP_LAUNCH"), "-q", "videotestsrc",
    "num-buffers=20", "!", "video/x-raw,width=160,height=120", "!",
    "jpegenc", "!", "matroskamux", "!", "filesink", loc, NULL
  };
  gint status;
  gchar *contents;
  gsize len;

  fail_unless (g_spawn_sync (NULL, (gchar **) argv, NULL, 0, NULL, NULL,
          NULL, NULL, &status, NULL));
  fail_unless (g_spawn_check_wait_status (status, NULL));
  if (keep) {
    fail_unless (g_file_get_contents (path, &contents, &len, NULL));
    fail_unless (len > keep);
    fail_unless (g_file_set_contents (path, contents, keep, NULL));
    g_free (contents);
  }
  g_free (loc);
  return path;
}

/* Files that are not videos, or not whole ones, end the pipeline by itself,
 * every time: a text file 200 times (gst-launch-1.0 1.22 hung on it in a few
 * percent of runs), and an empty file, a PNG cut short and a Matroska file
 * cut in its header a few times each. A video cut after some frames is
 * tagged up to the cut. */
GST_START_TEST (test_tag_file_broken_files_never_hang)
{
  gchar *dir = g_dir_make_tmp ("pipelines-XXXXXX", NULL);
  gchar *out = g_build_filename (dir, "out.jsonl", NULL);
  gchar *text = g_build_filename (dir, "broken.mp4", NULL);
  gchar *empty = g_build_filename (dir, "empty.mkv", NULL);
  gchar *png = g_build_filename (dir, "cut.png", NULL);
  gchar *cut_header = make_video (dir, "cut-header.mkv", 100);
  gchar *whole = make_video (dir, "whole.mkv", 0);
  gchar *cut_half, *contents, *src = image_path ("img1_640x480.png");
  const gchar *broken[] = { empty, png, cut_header };
  const gchar *env[] = { "CLIP_STALL_TIMEOUT=30", NULL };
  gsize len;
  RunResult r;
  GPtrArray *objs;
  guint i;

  fail_unless (g_file_set_contents (text, "this is not a video file", -1,
          NULL));
  fail_unless (g_file_set_contents (empty, "", 0, NULL));
  fail_unless (g_file_get_contents (src, &contents, &len, NULL));
  fail_unless (g_file_set_contents (png, contents, 200, NULL));
  g_free (contents);

  for (i = 0; i < 200 + 3 * G_N_ELEMENTS (broken); i++) {
    const gchar *in = i < 200 ? text : broken[i % G_N_ELEMENTS (broken)];
    const gchar *args[] = { in, out, NULL };

    run_script ("tag-file.sh", args, env, &r);
    fail_unless_equals_int (r.status, 1);
    fail_unless (strstr (r.err, "could not tag") != NULL, "%s", r.err);
    fail_unless (strstr (r.err, in) != NULL, "%s", r.err);
    run_result_clear (&r);
  }

  /* cut after about half of its frames: what is there gets tagged */
  fail_unless (g_file_get_contents (whole, &contents, &len, NULL));
  cut_half = g_build_filename (dir, "cut-half.mkv", NULL);
  fail_unless (g_file_set_contents (cut_half, contents, len / 2, NULL));
  g_free (contents);
  {
    const gchar *args[] = { cut_half, out, NULL };

    run_script ("tag-file.sh", args, env, &r);
    fail_unless (r.status == 0 || r.status == 1, "%d", r.status);
    objs = parse_jsonl_file (out);
    fail_unless (objs->len >= 5 && objs->len < 20, "%u lines", objs->len);
    g_ptr_array_unref (objs);
    run_result_clear (&r);
  }

  rm_rf (dir);
  g_free (cut_half);
  g_free (whole);
  g_free (cut_header);
  g_free (png);
  g_free (empty);
  g_free (text);
  g_free (src);
  g_free (out);
  g_free (dir);
}

GST_END_TEST;

/* ---------------------------------------------------- find-actions.sh -- */

/* Runs a command line (argv) and returns its stdout; fails on an exit
 * status other than 0. */
static gchar *
run_tool (const gchar * const *argv)
{
  gchar *out = NULL, *err = NULL;
  gint status;

  fail_unless (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH,
          NULL, NULL, &out, &err, &status, NULL));
  fail_unless (g_spawn_check_wait_status (status, NULL), "%s: %s", argv[1],
      err);
  g_free (err);
  return out;
}

/* The benchmark in small: a generated archive (several containers, sizes
 * and rates, background scenes, interruptions, a subject at the edge),
 * find-actions.sh on every video, the scorer: F1 >= 0.9 at tIoU 0.5 and a
 * boundary error under 0.5 s. Only segment records are written. */
GST_START_TEST (test_find_actions_benchmark)
{
  const gchar *root = g_getenv ("CLIP_SOURCE_ROOT");
  gchar *dir = g_dir_make_tmp ("actions-XXXXXX", NULL);
  gchar *videos = g_build_filename (dir, "videos", NULL);
  gchar *outs = g_build_filename (dir, "out", NULL);
  gchar *gen = g_build_filename (root, "bench", "actions", "make_archive.py",
      NULL);
  gchar *scorer = g_build_filename (root, "bench", "actions", "score.py",
      NULL);
  gchar *truth = g_build_filename (videos, "truth.jsonl", NULL);
  const gchar *gen_argv[] = { "python3", gen, videos, "--videos", "3",
    "--seed", "4", "--scale", "0.7", NULL
  };
  const gchar *score_argv[] = { "python3", scorer, truth, outs, "--json",
    NULL
  };
  const gchar *env[] = { "CLIP_COVERAGE=full", NULL };
  const gchar *name;
  gchar *text, *res;
  GDir *d;
  JsonParser *p = json_parser_new ();
  JsonObject *o;
  guint n_videos = 0;

  g_unsetenv ("CLIP_MODEL");    /* the demo model, as a user gets it */
  g_free (run_tool (gen_argv));
  g_mkdir (outs, 0755);
  d = g_dir_open (videos, 0, NULL);
  while ((name = g_dir_read_name (d))) {
    gchar *in, *out;
    const gchar *args[3];
    RunResult r;
    guint i;

    if (!g_str_has_prefix (name, "video"))
      continue;
    in = g_build_filename (videos, name, NULL);
    text = g_strconcat (name, ".jsonl", NULL);
    out = g_build_filename (outs, text, NULL);
    args[0] = in;
    args[1] = out;
    args[2] = NULL;
    run_script_default_model ("find-actions.sh", args, env, &r);
    fail_unless_equals_int (r.status, 0);
    fail_unless (g_file_get_contents (out, &res, NULL, NULL));
    {
      gchar **v = g_strsplit (res, "\n", -1);

      for (i = 0; v[i] && v[i][0]; i++)
        fail_unless (strstr (v[i], "\"type\":\"segment\"") != NULL,
            "not a segment: %s", v[i]);
      g_strfreev (v);
    }
    g_free (res);
    run_result_clear (&r);
    g_free (out);
    g_free (text);
    g_free (in);
    n_videos++;
  }
  g_dir_close (d);
  fail_unless_equals_int (n_videos, 3);

  res = run_tool (score_argv);
  GST_INFO ("score: %s", res);
  fail_unless (json_parser_load_from_data (p, res, -1, NULL));
  o = json_node_get_object (json_parser_get_root (p));
  fail_unless (json_object_get_double_member (o, "f1") >= 0.9, "%s", res);
  fail_unless (json_object_get_double_member (o, "boundary_error_s") <= 0.5,
      "%s", res);
  g_object_unref (p);
  g_free (res);

  rm_rf (dir);
  g_free (truth);
  g_free (scorer);
  g_free (gen);
  g_free (outs);
  g_free (videos);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_find_actions_errors)
{
  gchar *dir = g_dir_make_tmp ("actions-XXXXXX", NULL);
  gchar *broken = g_build_filename (dir, "broken.mkv", NULL);
  gchar *out = g_build_filename (dir, "out.jsonl", NULL);
  const gchar *args[] = { broken, out, NULL };
  const gchar *usage[] = { broken, NULL };
  const gchar *bad_window[] = { "CLIP_WINDOW=soon", NULL };
  RunResult r;

  fail_unless (g_file_set_contents (broken, "not a video", -1, NULL));
  run_script_default_model ("find-actions.sh", args, NULL, &r);
  fail_unless_equals_int (r.status, 1);
  fail_unless (strstr (r.err, "broken.mkv") != NULL, "%s", r.err);
  run_result_clear (&r);
  run_script_default_model ("find-actions.sh", usage, NULL, &r);
  fail_unless_equals_int (r.status, 2);
  run_result_clear (&r);
  run_script_default_model ("find-actions.sh", args, bad_window, &r);
  fail_unless (r.status != 0);
  fail_unless (strstr (r.err, "CLIP_WINDOW") != NULL, "%s", r.err);
  run_result_clear (&r);
  rm_rf (dir);
  g_free (out);
  g_free (broken);
  g_free (dir);
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
   * for a second the tiny model scores some; and every one of them is in
   * the file, the last ones too (sent at EOS), as the launcher counts them */
  fail_unless (objs->len >= 1);
  fail_unless_equals_uint64 (classified_count (r.err), objs->len);
  for (i = 1; i < objs->len; i++) {
    gint64 dpts = member_int (objs, i, "pts") - member_int (objs, 0, "pts");
    gint64 dnum = member_int (objs, i, "frame_number") -
        member_int (objs, 0, "frame_number");

    fail_unless (member_int (objs, i, "pts") > member_int (objs, i - 1,
            "pts"));
    /* the frame number is the scored frame's, not the carrier's: 30 fps */
    fail_unless (dnum > 0);
    fail_unless (ABS (dpts - dnum * GST_SECOND / 30) < 5 * GST_MSECOND,
        "line %u: pts +%" G_GINT64_FORMAT " ns but frame +%" G_GINT64_FORMAT,
        i, dpts, dnum);
  }

  g_ptr_array_unref (objs);
  run_result_clear (&r);
  rm_rf (dir);
  g_free (out_env);
  g_free (out);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_live_camera_unknown_option)
{
  const gchar *args[] = { "-m", NULL };
  RunResult r;

  run_script ("live-camera.sh", args, NULL, &r);
  fail_unless_equals_int (r.status, 2);
  fail_unless (strstr (r.err, "unknown option '-m'") != NULL, "%s", r.err);
  run_result_clear (&r);
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

/* -------------------------------------------------- watch-cameras.sh -- */

/* Three live test cameras on the demo model, each showing another pattern:
 * all share one scheduler, and each camera's file holds the segment of its
 * own pattern, nothing else; the launcher counts every camera's frames. */
GST_START_TEST (test_watch_cameras)
{
  gchar *dir = g_dir_make_tmp ("cameras-XXXXXX", NULL);
  const gchar *args[] = { "--test", "3", dir, NULL };
  const gchar *env[] = { "CLIP_NUM_BUFFERS=60", "CLIP_SINK=fakesink", NULL };
  const gchar *expected[] = { "a bouncing ball", "color bars",
    "static noise"
  };
  RunResult r;
  guint k;

  run_script_default_model ("watch-cameras.sh", args, env, &r);
  fail_unless_equals_int (r.status, 0);
  for (k = 0; k < 3; k++) {
    gchar *name = g_strdup_printf ("camera%u.jsonl", k);
    gchar *path = g_build_filename (dir, name, NULL);
    gchar *counters = g_strdup_printf ("camera%u: 60 frames: ", k);
    gchar *label = g_strdup_printf ("\"label\":\"%s\"", expected[k]);
    gchar *text, **lines;
    guint i;

    fail_unless (strstr (r.err, counters) != NULL, "%s", r.err);
    fail_unless (g_file_get_contents (path, &text, NULL, NULL), "%s", path);
    lines = g_strsplit (text, "\n", -1);
    fail_unless (lines[0] && lines[0][0], "camera %u: no segment", k);
    for (i = 0; lines[i] && lines[i][0]; i++) {
      fail_unless (strstr (lines[i], "\"type\":\"segment\"") != NULL);
      fail_unless (strstr (lines[i], label) != NULL, "camera %u: %s", k,
          lines[i]);
    }
    g_strfreev (lines);
    g_free (text);
    g_free (label);
    g_free (counters);
    g_free (path);
    g_free (name);
  }
  run_result_clear (&r);
  rm_rf (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_watch_cameras_usage)
{
  const gchar *bad_option[] = { "--frobnicate", "/tmp", NULL };
  const gchar *bad_count[] = { "--test", "x", "/tmp", NULL };
  const gchar *no_camera[] = { "/tmp", NULL };
  const gchar *const *cases[] = { bad_option, bad_count, no_camera };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    RunResult r;

    run_script ("watch-cameras.sh", cases[i], NULL, &r);
    fail_unless_equals_int (r.status, 2);
    fail_unless (r.err[0] != '\0');
    run_result_clear (&r);
  }
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
  const gchar *env_relabel[] = { "CLIP_INTERVAL=1", "CLIP_LABELS=red,blue",
    NULL
  };
  const gchar *outputs[] = { "first.png.jsonl", "second clip.PNG.jsonl",
    "second clip.jpeg.jsonl"
  };
  RunResult r;
  GPtrArray *objs;
  guint i;

  p = image_path ("img1_640x480.png");
  q = g_build_filename (in_dir, "first.png", NULL);
  copy_file (p, q);
  g_free (p);
  g_free (q);
  p = image_path ("img7_97x61.png");
  q = g_build_filename (in_dir, "second clip.PNG", NULL);
  copy_file (p, q);
  g_free (q);
  /* one name, two types: two outputs */
  q = g_build_filename (in_dir, "second clip.jpeg", NULL);
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
  /* progress: files done of total, and time left */
  fail_unless (strstr (r.err, "[4/4]") != NULL, "%s", r.err);
  fail_unless (strstr (r.err, "s left") != NULL, "%s", r.err);
  fail_unless (strstr (r.err, "3 tagged, 0 already done, 1 failed") != NULL,
      "%s", r.err);
  run_result_clear (&r);

  for (i = 0; i < G_N_ELEMENTS (outputs); i++) {
    p = g_build_filename (out_dir, outputs[i], NULL);
    objs = parse_jsonl_file (p);
    fail_unless_equals_int (objs->len, 1);
    g_ptr_array_unref (objs);
    g_free (p);
  }
  p = g_build_filename (out_dir, "broken.mp4.jsonl", NULL);
  fail_if (g_file_test (p, G_FILE_TEST_EXISTS));
  g_free (p);
  p = g_build_filename (out_dir, "broken.mp4.jsonl.part", NULL);
  fail_if (g_file_test (p, G_FILE_TEST_EXISTS));
  g_free (p);
  p = g_build_filename (out_dir, "notes.txt.jsonl", NULL);
  fail_if (g_file_test (p, G_FILE_TEST_EXISTS));
  g_free (p);

  /* again, without the broken file: nothing left to do */
  g_unlink (q);
  g_free (q);
  run_script ("sweep-archive.sh", args, env, &r);
  fail_unless_equals_int (r.status, 0);
  fail_unless (strstr (r.err, "0 tagged, 3 already done") != NULL, "%s",
      r.err);
  run_result_clear (&r);

  /* other labels: the outputs are stale, every file is tagged again */
  run_script ("sweep-archive.sh", args, env_relabel, &r);
  fail_unless_equals_int (r.status, 0);
  fail_unless (strstr (r.err, "3 tagged, 0 already done") != NULL, "%s",
      r.err);
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
  tcase_add_test (tc, test_tag_file_qos_sink);
  tcase_add_test (tc, test_tag_file_concat_running_time);
  tcase_add_test (tc, test_tag_file_odd_frames);
  tcase_add_test (tc, test_tag_file_broken_files_never_hang);
  tcase_add_test (tc, test_live_camera_unknown_option);
  tcase_add_test (tc, test_find_actions_benchmark);
  tcase_add_test (tc, test_find_actions_errors);
  tcase_add_test (tc, test_live_camera_test_source);
  tcase_add_test (tc, test_live_camera_stdout_fallback);
  tcase_add_test (tc, test_watch_cameras);
  tcase_add_test (tc, test_watch_cameras_usage);
  tcase_add_test (tc, test_sweep_archive);
  return s;
}

GST_CHECK_MAIN (pipelines);
