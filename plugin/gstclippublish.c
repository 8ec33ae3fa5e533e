/* GStreamer CLIP results to an MQTT broker
 *
 * gstclippublish.c: a passthrough element that publishes the records
 * clipjson writes (classified frames, finished segments) to an MQTT broker
 * with libmosquitto's threaded loop. It reads metadata only.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-clippublish
 * @title: clippublish
 *
 * Publishes one MQTT message per record to #GstClipPublish:topic, as DL
 * Streamer's gvametapublish method=mqtt does: the payload is the JSON line
 * clipjson would write (without its newline), a classified frame (with its
 * labelled regions), a frame's regions alone, or a finished segment from
 * clipsegment, in the order they pass.
 *
 * The connection is libmosquitto's: it is made in the background from
 * start() on, and when the broker goes away it is made again with a delay
 * that doubles from 1 s up to #GstClipPublish:reconnect-delay-max. While
 * there is no connection the records wait in a queue of at most
 * #GstClipPublish:max-buffered; beyond that the oldest is dropped. At EOS
 * the element waits up to #GstClipPublish:drain-timeout seconds for the
 * queue and the messages in flight (QoS 1 and 2: not yet acknowledged) to
 * go out; what is left then is dropped too. The counts are the read-only
 * properties #GstClipPublish:published and #GstClipPublish:dropped, and an
 * element message "clip-publish-stats" (records, published, dropped:
 * guint64) posted at EOS. published + dropped = records: with qos=1 or 2 a
 * published message was acknowledged by the broker; with qos=0 it was
 * written to the socket, and a message lost in a connection that breaks
 * is neither.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=100 ! videoconvert ! \
 *     clipclassify model=tests/data/tiny-clip labels="a cat,a dog" ! \
 *     clippublish host=localhost topic=cameras/door qos=1 ! fakesink
 * ]|
 * and, to watch: mosquitto_sub -h localhost -t cameras/door
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <string.h>

#include <gst/video/video.h>
#include <mosquitto.h>

#include "gstclipjsonformat.h"
#include "gstclipmeta.h"
#include "gstclippublish.h"

GST_DEBUG_CATEGORY_STATIC (gst_clip_publish_debug);
#define GST_CAT_DEFAULT gst_clip_publish_debug

#define DEFAULT_PROP_HOST "localhost"
#define DEFAULT_PROP_PORT 1883
#define DEFAULT_PROP_TOPIC "gst-clip"
#define DEFAULT_PROP_QOS 0
#define DEFAULT_PROP_CLIENT_ID NULL
#define DEFAULT_PROP_KEEPALIVE 60
#define DEFAULT_PROP_MAX_BUFFERED 1000
#define DEFAULT_PROP_RECONNECT_DELAY_MAX 30
#define DEFAULT_PROP_DRAIN_TIMEOUT 5

enum
{
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_TOPIC,
  PROP_QOS,
  PROP_CLIENT_ID,
  PROP_TLS_CA_FILE,
  PROP_TLS_CERT_FILE,
  PROP_TLS_KEY_FILE,
  PROP_KEEPALIVE,
  PROP_MAX_BUFFERED,
  PROP_RECONNECT_DELAY_MAX,
  PROP_DRAIN_TIMEOUT,
  PROP_PUBLISHED,
  PROP_DROPPED,
};

static GstStaticPadTemplate gst_clip_publish_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

static GstStaticPadTemplate gst_clip_publish_src_template =
GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

struct _GstClipPublish
{
  GstBaseTransform parent;

  /* properties, under the object lock */
  gchar *host, *topic, *client_id;
  gchar *tls_ca_file, *tls_cert_file, *tls_key_file;
  gint port, qos;
  guint keepalive, max_buffered, reconnect_delay_max, drain_timeout;

  /* streaming state, from start() to stop(); only the streaming thread
   * calls mosquitto_publish, so records go out in order */
  struct mosquitto *mosq;
  gchar *cur_topic;
  gint cur_qos;
  guint cur_max_buffered;
  gint width, height;
  guint64 frame_number;

  /* shared with libmosquitto's thread, under lock */
  GMutex lock;
  GCond cond;                   /* connected, or a message acknowledged */
  gboolean connected;
  GQueue pending;               /* GBytes payloads waiting for a connection */
  guint n_inflight;             /* handed to libmosquitto, not yet published */
  guint64 records, published, dropped;
};

#define gst_clip_publish_parent_class parent_class
G_DEFINE_TYPE (GstClipPublish, gst_clip_publish, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (clippublish, "clippublish", GST_RANK_NONE,
    GST_TYPE_CLIP_PUBLISH);

/* libmosquitto's thread */
static void
on_connect (struct mosquitto *mosq, void *obj, int rc)
{
  GstClipPublish *self = obj;

  if (rc != 0) {
    GST_WARNING_OBJECT (self, "broker refused the connection: %s",
        mosquitto_connack_string (rc));
    return;
  }
  GST_INFO_OBJECT (self, "connected");
  g_mutex_lock (&self->lock);
  self->connected = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
on_disconnect (struct mosquitto *mosq, void *obj, int rc)
{
  GstClipPublish *self = obj;

  GST_INFO_OBJECT (self, "disconnected (%s)", mosquitto_strerror (rc));
  g_mutex_lock (&self->lock);
  self->connected = FALSE;
  g_mutex_unlock (&self->lock);
}

static void
on_publish (struct mosquitto *mosq, void *obj, int mid)
{
  GstClipPublish *self = obj;

  g_mutex_lock (&self->lock);
  if (self->n_inflight > 0) {
    self->n_inflight--;
    self->published++;
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static gboolean
gst_clip_publish_start (GstBaseTransform * trans)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);
  gchar *host, *client_id, *ca, *cert, *key;
  gint port, rc;
  guint keepalive, delay_max;
  gboolean ok = FALSE, has_id;

  GST_OBJECT_LOCK (self);
  host = g_strdup (self->host);
  client_id = g_strdup (self->client_id);
  ca = g_strdup (self->tls_ca_file);
  cert = g_strdup (self->tls_cert_file);
  key = g_strdup (self->tls_key_file);
  port = self->port;
  keepalive = self->keepalive;
  delay_max = self->reconnect_delay_max;
  g_free (self->cur_topic);
  self->cur_topic = g_strdup (self->topic);
  self->cur_qos = self->qos;
  self->cur_max_buffered = self->max_buffered;
  GST_OBJECT_UNLOCK (self);

  self->width = self->height = 0;
  self->frame_number = 0;
  g_mutex_lock (&self->lock);
  self->connected = FALSE;
  self->n_inflight = 0;
  self->records = self->published = self->dropped = 0;
  g_mutex_unlock (&self->lock);

  if (!self->cur_topic || !self->cur_topic[0]) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("No MQTT topic set"),
        (NULL));
    goto done;
  }
  /* without a client id the broker picks one, for a clean session only;
   * with one the session persists, so the broker remembers the QoS 2
   * messages it has seen when the connection breaks (no duplicates) */
  has_id = client_id && client_id[0];
  self->mosq = mosquitto_new (has_id ? client_id : NULL, !has_id, self);
  if (!self->mosq) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not create an MQTT client: %s", g_strerror (errno)), (NULL));
    goto done;
  }
  mosquitto_connect_callback_set (self->mosq, on_connect);
  mosquitto_disconnect_callback_set (self->mosq, on_disconnect);
  mosquitto_publish_callback_set (self->mosq, on_publish);
  mosquitto_reconnect_delay_set (self->mosq, 1, MAX (delay_max, 1), TRUE);

  if ((ca && ca[0]) || (cert && cert[0]) || (key && key[0])) {
    rc = mosquitto_tls_set (self->mosq, ca && ca[0] ? ca : NULL, NULL,
        cert && cert[0] ? cert : NULL, key && key[0] ? key : NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Could not use the TLS files (tls-ca-file '%s', tls-cert-file "
              "'%s', tls-key-file '%s'): %s; a CA file is required, a "
              "certificate needs its key", GST_STR_NULL (ca),
              GST_STR_NULL (cert), GST_STR_NULL (key),
              mosquitto_strerror (rc)), (NULL));
      goto done;
    }
  }

  /* a broker that is away now is no error: the loop connects when it is
   * back, and the records wait meanwhile */
  rc = mosquitto_connect_async (self->mosq, host, port, keepalive);
  if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_EAI) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot connect to MQTT broker '%s' port %d: %s", host, port,
            rc == MOSQ_ERR_EAI ? "unknown host" : mosquitto_strerror (rc)),
        (NULL));
    goto done;
  } else if (rc != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
        ("MQTT broker '%s' port %d is not reachable yet (%s); records are "
            "kept until it is (max-buffered)", host, port,
            rc == MOSQ_ERR_ERRNO ? g_strerror (errno) :
            mosquitto_strerror (rc)), (NULL));
  }
  rc = mosquitto_loop_start (self->mosq);
  if (rc != MOSQ_ERR_SUCCESS) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not start the MQTT thread: %s", mosquitto_strerror (rc)),
        (NULL));
    goto done;
  }
  ok = TRUE;

done:
  if (!ok && self->mosq) {
    mosquitto_destroy (self->mosq);
    self->mosq = NULL;
  }
  g_free (host);
  g_free (client_id);
  g_free (ca);
  g_free (cert);
  g_free (key);
  return ok;
}

static gboolean
gst_clip_publish_stop (GstBaseTransform * trans)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);

  if (self->mosq) {
    mosquitto_disconnect (self->mosq);
    mosquitto_loop_stop (self->mosq, FALSE);
    mosquitto_destroy (self->mosq);
    self->mosq = NULL;
  }
  g_mutex_lock (&self->lock);
  g_queue_clear_full (&self->pending, (GDestroyNotify) g_bytes_unref);
  self->connected = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_clip_publish_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);
  GstVideoInfo info;

  self->width = self->height = 0;
  if (gst_video_info_from_caps (&info, incaps)) {
    self->width = GST_VIDEO_INFO_WIDTH (&info);
    self->height = GST_VIDEO_INFO_HEIGHT (&info);
  }
  return TRUE;
}

/* Hands the queue to libmosquitto while connected. Streaming thread. */
static void
gst_clip_publish_flush (GstClipPublish * self)
{
  for (;;) {
    GBytes *payload;
    gsize size;
    gconstpointer data;
    gint rc;

    g_mutex_lock (&self->lock);
    if (!self->connected || g_queue_is_empty (&self->pending)) {
      g_mutex_unlock (&self->lock);
      return;
    }
    payload = g_queue_pop_head (&self->pending);
    self->n_inflight++;         /* before on_publish can run */
    g_mutex_unlock (&self->lock);

    data = g_bytes_get_data (payload, &size);
    rc = mosquitto_publish (self->mosq, NULL, self->cur_topic, size, data,
        self->cur_qos, FALSE);
    if (rc == MOSQ_ERR_SUCCESS) {
      g_bytes_unref (payload);
      continue;
    }
    /* the connection just broke: back to the head, to go out first */
    GST_DEBUG_OBJECT (self, "publish: %s", mosquitto_strerror (rc));
    g_mutex_lock (&self->lock);
    self->n_inflight--;
    g_queue_push_head (&self->pending, payload);
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
      self->connected = FALSE;
    g_mutex_unlock (&self->lock);
    if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST)
      GST_WARNING_OBJECT (self, "could not publish: %s",
          mosquitto_strerror (rc));
    return;
  }
}

/* Queues one record (a JSON line; its newline is not sent). */
static void
gst_clip_publish_add (GstClipPublish * self, gchar * line, gsize length)
{
  if (length > 0 && line[length - 1] == '\n')
    length--;
  g_mutex_lock (&self->lock);
  self->records++;
  g_queue_push_tail (&self->pending, g_bytes_new_take (line, length));
  /* bounded while the broker is away: the oldest records go first */
  while (g_queue_get_length (&self->pending) > self->cur_max_buffered) {
    g_bytes_unref (g_queue_pop_head (&self->pending));
    self->dropped++;
  }
  g_mutex_unlock (&self->lock);
  gst_clip_publish_flush (self);
}

/* The records clipjson's records=all writes for @buf, in its order. */
static void
gst_clip_publish_buffer (GstClipPublish * self, GstBuffer * buf)
{
  GstClipJsonFrame frame = { &GST_BASE_TRANSFORM (self)->segment,
    self->frame_number, self->width, self->height
  };
  GPtrArray *lines = g_ptr_array_new ();
  guint i;

  gst_clip_json_format_buffer (buf, &frame, TRUE, TRUE, lines);
  for (i = 0; i < lines->len; i++) {
    gchar *line = g_ptr_array_index (lines, i);

    gst_clip_publish_add (self, line, strlen (line));   /* takes it */
  }
  g_ptr_array_unref (lines);
}

static GstFlowReturn
gst_clip_publish_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);

  gst_clip_publish_buffer (self, buf);
  self->frame_number++;
  return GST_FLOW_OK;
}

/* EOS: waits up to drain-timeout for the queue and the messages in flight,
 * counts what is left as dropped and posts the counts. */
static void
gst_clip_publish_drain (GstClipPublish * self)
{
  gint64 deadline;
  guint timeout;
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  timeout = self->drain_timeout;
  GST_OBJECT_UNLOCK (self);
  deadline = g_get_monotonic_time () + (gint64) timeout * G_TIME_SPAN_SECOND;

  for (;;) {
    gboolean done, timed_out = FALSE;

    gst_clip_publish_flush (self);
    g_mutex_lock (&self->lock);
    done = g_queue_is_empty (&self->pending) && self->n_inflight == 0;
    if (!done)
      timed_out = !g_cond_wait_until (&self->cond, &self->lock, deadline);
    if (done || timed_out) {
      self->dropped += g_queue_get_length (&self->pending) + self->n_inflight;
      g_queue_clear_full (&self->pending, (GDestroyNotify) g_bytes_unref);
      self->n_inflight = 0;
      s = gst_structure_new ("clip-publish-stats",
          "records", G_TYPE_UINT64, self->records,
          "published", G_TYPE_UINT64, self->published,
          "dropped", G_TYPE_UINT64, self->dropped, NULL);
      g_mutex_unlock (&self->lock);
      break;
    }
    g_mutex_unlock (&self->lock);
  }
  GST_INFO_OBJECT (self, "%" GST_PTR_FORMAT, s);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

static gboolean
gst_clip_publish_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (trans);
  const GstStructure *s = gst_event_get_structure (event);

  if (self->mosq && GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM
      && s && gst_structure_has_name (s, GST_CLIP_LATE_RESULT_EVENT)) {
    const GValue *v = gst_structure_get_value (s, "buffer");

    if (v && GST_VALUE_HOLDS_BUFFER (v))
      gst_clip_publish_buffer (self, gst_value_get_buffer (v));
  } else if (self->mosq && GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    gst_clip_publish_drain (self);
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static void
set_string (GstClipPublish * self, gchar ** field, const GValue * value)
{
  GST_OBJECT_LOCK (self);
  g_free (*field);
  *field = g_value_dup_string (value);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_publish_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);

  switch (prop_id) {
    case PROP_HOST:
      set_string (self, &self->host, value);
      break;
    case PROP_TOPIC:
      set_string (self, &self->topic, value);
      break;
    case PROP_CLIENT_ID:
      set_string (self, &self->client_id, value);
      break;
    case PROP_TLS_CA_FILE:
      set_string (self, &self->tls_ca_file, value);
      break;
    case PROP_TLS_CERT_FILE:
      set_string (self, &self->tls_cert_file, value);
      break;
    case PROP_TLS_KEY_FILE:
      set_string (self, &self->tls_key_file, value);
      break;
    case PROP_PORT:
      GST_OBJECT_LOCK (self);
      self->port = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_QOS:
      GST_OBJECT_LOCK (self);
      self->qos = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_KEEPALIVE:
      GST_OBJECT_LOCK (self);
      self->keepalive = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MAX_BUFFERED:
      GST_OBJECT_LOCK (self);
      self->max_buffered = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_RECONNECT_DELAY_MAX:
      GST_OBJECT_LOCK (self);
      self->reconnect_delay_max = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DRAIN_TIMEOUT:
      GST_OBJECT_LOCK (self);
      self->drain_timeout = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_clip_publish_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);

  switch (prop_id) {
    case PROP_PUBLISHED:
      g_mutex_lock (&self->lock);
      g_value_set_uint64 (value, self->published);
      g_mutex_unlock (&self->lock);
      return;
    case PROP_DROPPED:
      g_mutex_lock (&self->lock);
      g_value_set_uint64 (value, self->dropped);
      g_mutex_unlock (&self->lock);
      return;
    default:
      break;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_HOST:
      g_value_set_string (value, self->host);
      break;
    case PROP_TOPIC:
      g_value_set_string (value, self->topic);
      break;
    case PROP_CLIENT_ID:
      g_value_set_string (value, self->client_id);
      break;
    case PROP_TLS_CA_FILE:
      g_value_set_string (value, self->tls_ca_file);
      break;
    case PROP_TLS_CERT_FILE:
      g_value_set_string (value, self->tls_cert_file);
      break;
    case PROP_TLS_KEY_FILE:
      g_value_set_string (value, self->tls_key_file);
      break;
    case PROP_PORT:
      g_value_set_int (value, self->port);
      break;
    case PROP_QOS:
      g_value_set_int (value, self->qos);
      break;
    case PROP_KEEPALIVE:
      g_value_set_uint (value, self->keepalive);
      break;
    case PROP_MAX_BUFFERED:
      g_value_set_uint (value, self->max_buffered);
      break;
    case PROP_RECONNECT_DELAY_MAX:
      g_value_set_uint (value, self->reconnect_delay_max);
      break;
    case PROP_DRAIN_TIMEOUT:
      g_value_set_uint (value, self->drain_timeout);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_clip_publish_finalize (GObject * object)
{
  GstClipPublish *self = GST_CLIP_PUBLISH (object);

  g_free (self->host);
  g_free (self->topic);
  g_free (self->client_id);
  g_free (self->tls_ca_file);
  g_free (self->tls_cert_file);
  g_free (self->tls_key_file);
  g_free (self->cur_topic);
  g_queue_clear_full (&self->pending, (GDestroyNotify) g_bytes_unref);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

#define RW_READY (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
install_string (GObjectClass * klass, guint id, const gchar * name,
    const gchar * nick, const gchar * blurb, const gchar * def)
{
  g_object_class_install_property (klass, id, g_param_spec_string (name, nick,
          blurb, def, RW_READY));
}

static void
gst_clip_publish_class_init (GstClipPublishClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_clip_publish_debug, "clippublish", 0,
      "CLIP results to an MQTT broker");
  /* once per process; libmosquitto keeps no other global state */
  mosquitto_lib_init ();

  gobject_class->set_property = gst_clip_publish_set_property;
  gobject_class->get_property = gst_clip_publish_get_property;
  gobject_class->finalize = gst_clip_publish_finalize;

  /**
   * GstClipPublish:host:
   *
   * The MQTT broker's host name or address.
   */
  install_string (gobject_class, PROP_HOST, "host", "Host",
      "MQTT broker host", DEFAULT_PROP_HOST);
  /**
   * GstClipPublish:port:
   *
   * The broker's port (1883; 8883 is the usual one for TLS).
   */
  g_object_class_install_property (gobject_class, PROP_PORT,
      g_param_spec_int ("port", "Port", "MQTT broker port", 1, 65535,
          DEFAULT_PROP_PORT, RW_READY));
  /**
   * GstClipPublish:topic:
   *
   * The topic every record is published to.
   */
  install_string (gobject_class, PROP_TOPIC, "topic", "Topic",
      "MQTT topic of the records", DEFAULT_PROP_TOPIC);
  /**
   * GstClipPublish:qos:
   *
   * MQTT quality of service: 0 at most once, 1 at least once, 2 exactly
   * once. With 1 and 2 "published" counts what the broker acknowledged.
   */
  g_object_class_install_property (gobject_class, PROP_QOS,
      g_param_spec_int ("qos", "QoS", "MQTT quality of service (0, 1, 2)",
          0, 2, DEFAULT_PROP_QOS, RW_READY));
  /**
   * GstClipPublish:client-id:
   *
   * The MQTT client id; unset: the broker assigns one. With an id the
   * session is persistent (clean session off): QoS 1 and 2 messages in
   * flight when the connection breaks are completed after it is back, and
   * with qos=2 the broker delivers none of them twice.
   */
  install_string (gobject_class, PROP_CLIENT_ID, "client-id", "Client id",
      "MQTT client id (unset: the broker assigns one)",
      DEFAULT_PROP_CLIENT_ID);
  /**
   * GstClipPublish:tls-ca-file:
   *
   * PEM file of the certificate authorities that sign the broker's
   * certificate; setting it turns TLS on.
   */
  install_string (gobject_class, PROP_TLS_CA_FILE, "tls-ca-file",
      "TLS CA file", "PEM CA certificates to verify the broker with "
      "(turns TLS on)", NULL);
  /**
   * GstClipPublish:tls-cert-file:
   *
   * PEM client certificate, for brokers that require one (with
   * #GstClipPublish:tls-key-file).
   */
  install_string (gobject_class, PROP_TLS_CERT_FILE, "tls-cert-file",
      "TLS certificate file", "PEM client certificate", NULL);
  /**
   * GstClipPublish:tls-key-file:
   *
   * PEM private key of #GstClipPublish:tls-cert-file (not encrypted).
   */
  install_string (gobject_class, PROP_TLS_KEY_FILE, "tls-key-file",
      "TLS key file", "PEM private key of the client certificate", NULL);
  /**
   * GstClipPublish:keepalive:
   *
   * Seconds between MQTT pings when nothing else is sent.
   */
  g_object_class_install_property (gobject_class, PROP_KEEPALIVE,
      g_param_spec_uint ("keepalive", "Keepalive",
          "Seconds between MQTT keepalive pings", 5, 65535,
          DEFAULT_PROP_KEEPALIVE, RW_READY));
  /**
   * GstClipPublish:max-buffered:
   *
   * Records kept while the broker is away; beyond that the oldest is
   * dropped and counted in #GstClipPublish:dropped.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_BUFFERED,
      g_param_spec_uint ("max-buffered", "Max buffered",
          "Records kept while the broker is away (the oldest go first)",
          0, G_MAXINT, DEFAULT_PROP_MAX_BUFFERED, RW_READY));
  /**
   * GstClipPublish:reconnect-delay-max:
   *
   * After a lost connection the element tries again after 1 s, then
   * doubles the delay up to this many seconds.
   */
  g_object_class_install_property (gobject_class, PROP_RECONNECT_DELAY_MAX,
      g_param_spec_uint ("reconnect-delay-max", "Reconnect delay max",
          "Longest delay between reconnection attempts, seconds (from 1 s, "
          "doubling)", 1, 3600, DEFAULT_PROP_RECONNECT_DELAY_MAX, RW_READY));
  /**
   * GstClipPublish:drain-timeout:
   *
   * At EOS, how many seconds to wait for the buffered and unacknowledged
   * records to reach the broker; what is left then counts as dropped.
   */
  g_object_class_install_property (gobject_class, PROP_DRAIN_TIMEOUT,
      g_param_spec_uint ("drain-timeout", "Drain timeout",
          "Seconds EOS waits for buffered records to be published", 0, 3600,
          DEFAULT_PROP_DRAIN_TIMEOUT, RW_READY));
  /**
   * GstClipPublish:published:
   *
   * Records the broker acknowledged (qos 1, 2) or that were written to it
   * (qos 0), since start.
   */
  g_object_class_install_property (gobject_class, PROP_PUBLISHED,
      g_param_spec_uint64 ("published", "Published",
          "Records published since start", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstClipPublish:dropped:
   *
   * Records dropped since start: the buffer was full while the broker was
   * away, or they were still unpublished when the drain timeout passed.
   */
  g_object_class_install_property (gobject_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped",
          "Records dropped since start (buffer full, drain timeout)", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_publish_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_clip_publish_src_template);
  gst_element_class_set_static_metadata (element_class,
      "CLIP results to MQTT", "Filter/Analyzer/Video",
      "Publishes each frame's CLIP classification and each finished segment "
      "as JSON to an MQTT broker", "gst-clip developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_clip_publish_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_clip_publish_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_clip_publish_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_clip_publish_transform_ip);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_clip_publish_sink_event);
}

static void
gst_clip_publish_init (GstClipPublish * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  self->host = g_strdup (DEFAULT_PROP_HOST);
  self->port = DEFAULT_PROP_PORT;
  self->topic = g_strdup (DEFAULT_PROP_TOPIC);
  self->qos = DEFAULT_PROP_QOS;
  self->client_id = g_strdup (DEFAULT_PROP_CLIENT_ID);
  self->keepalive = DEFAULT_PROP_KEEPALIVE;
  self->max_buffered = DEFAULT_PROP_MAX_BUFFERED;
  self->reconnect_delay_max = DEFAULT_PROP_RECONNECT_DELAY_MAX;
  self->drain_timeout = DEFAULT_PROP_DRAIN_TIMEOUT;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->pending);
  gst_base_transform_set_passthrough (trans, TRUE);
  gst_base_transform_set_in_place (trans, TRUE);
}
