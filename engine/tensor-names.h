/* tensor-names.h - the Hugging Face CLIP checkpoint names, in one table.
 * Shapes use D (tower width), M (MLP width); 0 ends a shape. */
#ifndef CLE_TENSOR_NAMES_H
#define CLE_TENSOR_NAMES_H

/* Per encoder layer, under "<tower>.encoder.layers.<i>.":
 * X (field of ClipLayerWeights, name suffix, dim0, dim1) */
#define CLE_LAYER_TENSORS(X)                           \
  X (ln1_w, "layer_norm1.weight", D, 0)                \
  X (ln1_b, "layer_norm1.bias", D, 0)                  \
  X (q_w, "self_attn.q_proj.weight", D, D)             \
  X (q_b, "self_attn.q_proj.bias", D, 0)               \
  X (k_w, "self_attn.k_proj.weight", D, D)             \
  X (k_b, "self_attn.k_proj.bias", D, 0)               \
  X (v_w, "self_attn.v_proj.weight", D, D)             \
  X (v_b, "self_attn.v_proj.bias", D, 0)               \
  X (o_w, "self_attn.out_proj.weight", D, D)           \
  X (o_b, "self_attn.out_proj.bias", D, 0)             \
  X (ln2_w, "layer_norm2.weight", D, 0)                \
  X (ln2_b, "layer_norm2.bias", D, 0)                  \
  X (fc1_w, "mlp.fc1.weight", M, D)                    \
  X (fc1_b, "mlp.fc1.bias", M, 0)                      \
  X (fc2_w, "mlp.fc2.weight", D, M)                    \
  X (fc2_b, "mlp.fc2.bias", D, 0)

#define CLE_VISION_PREFIX "vision_model."
#define CLE_TEXT_PREFIX "text_model."

#define CLE_NAME_CLASS_EMBEDDING "vision_model.embeddings.class_embedding"
#define CLE_NAME_PATCH_EMBEDDING "vision_model.embeddings.patch_embedding.weight"
#define CLE_NAME_VISION_POSITIONS "vision_model.embeddings.position_embedding.weight"
#define CLE_NAME_PRE_LN "vision_model.pre_layrnorm"     /* sic, as published */
#define CLE_NAME_POST_LN "vision_model.post_layernorm"
#define CLE_NAME_VISUAL_PROJECTION "visual_projection.weight"
#define CLE_NAME_TOKEN_EMBEDDING "text_model.embeddings.token_embedding.weight"
#define CLE_NAME_TEXT_POSITIONS "text_model.embeddings.position_embedding.weight"
#define CLE_NAME_FINAL_LN "text_model.final_layer_norm"
#define CLE_NAME_TEXT_PROJECTION "text_projection.weight"
#define CLE_NAME_LOGIT_SCALE "logit_scale"

#endif
