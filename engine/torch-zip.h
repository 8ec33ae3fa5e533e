/* torch-zip.h - PyTorch's torch.save zip format (pytorch_model.bin,
 * pytorch_adapter.bin, adapter_model.bin), for a dict of tensors only.
 * Knows nothing of CLIP. */
#ifndef CLE_TORCH_ZIP_H
#define CLE_TORCH_ZIP_H

#include "safetensors.h"

/* Opens path (a zip archive written by torch.save, torch >= 1.6) whose
 * pickle is a dict or OrderedDict {name: tensor}, as a set of tensors read
 * in place from the mapped file, like cle_safetensors_open. The pickle is
 * read, never executed: the only globals accepted are OrderedDict, torch's
 * tensor rebuild functions and its storage types; anything else is
 * CLE_ERROR_FORMAT naming the opcode and the global. A legacy (non-zip)
 * torch file is CLE_ERROR_FORMAT saying so; tensors must be contiguous
 * little-endian F32/F16/BF16/F64 or integers. Zip entries are stored (as
 * torch.save writes them: used in place) or deflated (by another zip tool:
 * inflated at open, sizes and CRC-32 checked against the central directory,
 * CLE_ERROR_FORMAT naming the entry when they lie); other methods are
 * CLE_ERROR_FORMAT naming the method. */
int cle_torch_zip_open (ClipSafetensors **out, const char *path,
    ClipError *err);

/* The same over bytes already in memory (the fuzz target); name is used in
 * messages only. The tensors point into data, which must outlive *out. */
int cle_torch_zip_parse (ClipSafetensors **out, const uint8_t *data,
    size_t size, const char *name, ClipError *err);

#endif
