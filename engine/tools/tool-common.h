/* tool-common.h - what every clip-tool command shares: the common options
 * (--threads, --precision, --text-cache, --adapter) and the MODEL argument, parsed in
 * one place; the model and context opened in one place; errors reported the
 * same way; JSON written the same way; and the inputs (texts, image files)
 * read the same way. The commands themselves are the cmd-*.c files, one a
 * file, each exporting its ToolCommand; clip-tool.c dispatches to them. */
#ifndef CLIP_TOOL_COMMON_H
#define CLIP_TOOL_COMMON_H

#include <stdio.h>

#include <glib.h>

#include "clip.h"

G_BEGIN_DECLS

enum
{
  EXIT_OK = 0,
  EXIT_RUNTIME = 1,             /* model, file or engine failure */
  EXIT_USAGE = 2,               /* bad command line */
};

#define DEFAULT_BATCH_TEXTS 64
#define DEFAULT_BATCH_IMAGES 8

/* ----------------------------------------------------------- commands -- */

typedef struct ToolCommand ToolCommand;

struct ToolCommand
{
  const char *name;             /* "classify" */
  const char *params;           /* "MODEL IMAGE...": the usage line's rest */
  const char *summary;          /* one sentence for clip-tool --help */
  const char *description;      /* the text of clip-tool COMMAND --help */
  /* argv[0] is "clip-tool COMMAND"; returns the exit status */
  int (*run) (const ToolCommand * cmd, int argc, char **argv);
};

extern const ToolCommand tool_cmd_info, tool_cmd_tokenize,
    tool_cmd_preprocess, tool_cmd_embed_text, tool_cmd_embed_image,
    tool_cmd_classify, tool_cmd_bench, tool_cmd_search, tool_cmd_index_merge,
    tool_cmd_ann_build;

/* ----------------------------------------------------- common options -- */

/* The values of the common options, accepted before COMMAND and by every
 * command. */
typedef struct
{
  gint threads;                 /* --threads N, 0: the OpenMP default */
  gchar *precision_name;        /* --precision as given, or NULL */
  ClipPrecision precision;      /* parsed from precision_name */
  gchar *text_cache;            /* --text-cache DIR, or NULL */
  gchar *adapter;               /* --adapter DIR, or NULL */
} ToolOptions;

extern ToolOptions tool_options;

/* The GOptionEntry array of the common options (NULL-terminated). */
const GOptionEntry *tool_common_entries (void);

/* Checks the common options' values; reports and returns EXIT_USAGE when
 * one is bad (command: NULL before COMMAND). */
int tool_check_common (const char *command);

/* Releases the strings of the common options. */
void tool_options_clear (void);

/* --precision as given, "fp32" when not given. */
const char *tool_precision_name (void);

/* The help: lines of at most TOOL_HELP_WIDTH columns. */
#define TOOL_HELP_WIDTH 79

/* text (words separated by spaces) as lines of at most TOOL_HELP_WIDTH
 * columns, each indented by indent spaces; g_free() it. */
gchar *tool_wrap (const char *text, int indent);

/* What the help of clip-tool and of each command says about "--". */
#define TOOL_DASH_DASH_NOTE \
  "Options may come before or after the arguments. An argument that " \
  "begins with '-' (a text or a file name) goes after '--', which ends " \
  "the options, e.g. 'clip-tool tokenize MODEL -- -foo'."

/* "both", "vision", "text" -> *towers; FALSE for anything else. */
gboolean tool_parse_towers (const char *name, unsigned *towers);
const char *tool_tower_name (unsigned towers);

/* ------------------------------------------------------------- errors -- */

/* "clip-tool: MESSAGE" on stderr (stdout flushed first); returns code. */
int tool_fail (int code, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

/* Reports an engine error as EXIT_RUNTIME; subject (a path, or NULL) is
 * prefixed unless the engine's message already names it. */
int tool_fail_clip (const ClipError * err, int status, const char *subject);

/* A usage error, followed by "Try 'clip-tool [COMMAND] --help'.";
 * returns EXIT_USAGE. command may be NULL. */
int tool_fail_usage (const char *command, const char *fmt, ...)
    G_GNUC_PRINTF (2, 3);

/* Checks that everything reached stdout; returns code or EXIT_RUNTIME. */
int tool_finish_stdout (int code);

/* ------------------------------------------------------ a command run -- */

/* One command's parsed command line, model and context. */
typedef struct
{
  const ToolCommand *cmd;
  const char *model_dir;        /* the MODEL argument */
  char **args;                  /* the positional arguments after MODEL */
  int n_args;
  ClipModel *model;
  ClipContext *ctx;
  ClipModelInfo info;           /* valid once the model is loaded */
  /* private */
  GOptionContext *octx;
  const GOptionEntry *entries;
  gchar **rest;
  ClipTextCache *text_cache;
} Tool;

/* Parses a command's argv: its entries (NULL-terminated, may be NULL) and
 * the common options, then MODEL and between min_args and max_args more
 * positional arguments (max_args < 0: no limit). Arguments after "--" are
 * positional whatever they begin with. Returns EXIT_OK, or EXIT_USAGE after
 * saying why. Call tool_close in every case: it frees the strings GOption
 * stored in the entries' variables too. */
int tool_parse (Tool * t, const ToolCommand * cmd,
    const GOptionEntry * entries, int min_args, int max_args, int argc,
    char **argv);

/* Loads t->model_dir with towers and --precision, fills t->info. towers 0:
 * both, or the one tower a single-tower checkpoint has (the error reported
 * is that of loading both). Returns EXIT_OK, or EXIT_RUNTIME after
 * reporting. */
int tool_load_model (Tool * t, unsigned towers);

/* A context for t->model for batches of batch_images images and
 * batch_texts texts (0: the engine's default) on --threads threads. */
int tool_new_context (Tool * t, int batch_images, int batch_texts);

/* tool_load_model, then tool_new_context. */
int tool_open (Tool * t, unsigned towers, int batch_images, int batch_texts);

/* --batch N of a command: reports and returns EXIT_USAGE unless N >= 1. */
int tool_check_batch (const Tool * t, int batch);

/* The --batch and --file entries of the commands that have them. */
#define TOOL_BATCH_ENTRY(var, description) \
  {"batch", 'b', 0, G_OPTION_ARG_INT, &(var), description, "N"}
#define TOOL_FILE_ENTRY(var) \
  {"file", 'f', 0, G_OPTION_ARG_FILENAME, &(var), \
        "Reads texts from FILE, one a line ('-': stdin).", "FILE"}

void tool_close (Tool * t);

/* cle_encode_texts through --text-cache when one was given. */
int tool_encode_texts (Tool * t, const char *const *texts, int n,
    float *embeds, size_t n_embeds, ClipError * err);

/* --------------------------------------------------------------- json -- */

/* Append to s: a JSON string (NULL: null; invalid UTF-8 becomes U+FFFD);
 * the shortest decimal that reads back to the same float (NaN and
 * infinities: null); arrays of those. */
void json_string (GString * s, const char *str);
void json_float (GString * s, float v);
void json_floats (GString * s, const float *v, size_t n);
void json_ints (GString * s, const int32_t * v, size_t n);

/* Closes the object in s ('}') and writes it as one line on stdout; empties
 * s. */
void json_emit_line (GString * s);

/* {"KEY": NAME, "index": INDEX, "embedding": [...]} as one line; without
 * "index" when index < 0. */
void json_emit_embedding (GString * s, const char *key, const char *name,
    long index, const float *embed, int n);

/* -------------------------------------------- inputs (tool-input.c) -- */

/* The texts of tokenize and embed-text: the TEXT arguments, then the lines
 * of --file (streamed, so any number of lines in bounded memory). */
typedef struct
{
  char **args;
  int i_arg;
  const char *path;             /* --file, "-" for stdin, or NULL */
  FILE *fp;
  long line_no;
  char *line;
  size_t line_cap;
} TextSource;

int text_source_open (TextSource * src, char **args, const char *path);

/* The texts of a command that takes [TEXT...] and --file (file, or NULL):
 * t->args, then the lines of file. Reports a usage error when there are
 * none, else opens them with text_source_open. */
int text_source_open_args (TextSource * src, const Tool * t,
    const char *file);
void text_source_close (TextSource * src);

/* Sets *text to the next text (valid until the next call); returns 1, or 0
 * at the end, or -1 after reporting an error. */
int text_source_next (TextSource * src, const char **text);

/* Loads an image file (PNG, JPEG, PPM) as an RGB frame over *rgb (free()
 * it); on failure reports an error naming the path and returns FALSE. */
gboolean tool_load_image (const char *path, uint8_t ** rgb,
    ClipFrame * frame);

/* Called with each image's embedding, in input order; returns EXIT_OK, or
 * EXIT_RUNTIME after reporting why that image failed. */
typedef int (*ToolImageFunc) (const char *path, int index,
    const float *embed, gpointer user_data);

/* Loads and encodes the n_paths images in batches of at most batch, handing
 * each embedding to func (index: the path's index). An image that cannot
 * be read, decoded or encoded is reported (its path and why) and the others
 * are still encoded; the return value is then EXIT_RUNTIME. */
int tool_encode_image_files (Tool * t, char **paths, int n_paths, int batch,
    ToolImageFunc func, gpointer user_data);

G_END_DECLS

#endif
