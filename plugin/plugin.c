/* GStreamer CLIP plugin
 *
 * plugin.c: registers the elements; nothing else lives here.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstclipclassify.h"
#include "gstclipjson.h"
#ifdef HAVE_MQTT
#include "gstclippublish.h"
#endif
#include "gstclipindex.h"
#include "gstclipsegment.h"
#include "gstclipoverlay.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (clipclassify, plugin);
  ret |= GST_ELEMENT_REGISTER (clipjson, plugin);
  ret |= GST_ELEMENT_REGISTER (clipindex, plugin);
  ret |= GST_ELEMENT_REGISTER (clipsegment, plugin);
#ifdef HAVE_MQTT
  ret |= GST_ELEMENT_REGISTER (clippublish, plugin);
#endif
  ret |= GST_ELEMENT_REGISTER (clipoverlay, plugin);

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR,
    GST_VERSION_MINOR,
    clip,
    "Zero-shot video classification with OpenAI's CLIP",
    plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
