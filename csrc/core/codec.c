/* TiKV's memcomparable byte encoding (codec::bytes, "encode_bytes"): the key
 * in groups of 8 bytes, each padded with zeros and followed by a marker
 * 0xff - padding. Transactional keys are routed by this form in API v1, since
 * PD reports region boundaries encoded. */
#include "core/core.h"

#define GROUP 8
#define MARKER 0xff
#define PAD 0x00

size_t tikv__codec_encode_bytes_into(const uint8_t *key, size_t len, uint8_t *buf) {
  size_t o = 0;
  for (size_t i = 0; i <= len; i += GROUP) {
    size_t remain = len - i;
    size_t n = remain >= GROUP ? GROUP : remain;
    if (n) memcpy(buf + o, key + i, n);
    memset(buf + o + n, PAD, GROUP - n);
    buf[o + GROUP] = (uint8_t)(MARKER - (GROUP - n));
    o += GROUP + 1;
    if (n < GROUP) break;
  }
  return o;
}

int tikv__codec_encode_bytes(const uint8_t *key, size_t len, uint8_t **out, size_t *out_len) {
  uint8_t *buf = tikv__malloc(TIKV__CODEC_ENCODED_LEN(len));
  if (!buf) return -1;
  *out_len = tikv__codec_encode_bytes_into(key, len, buf);
  *out = buf;
  return 0;
}

int tikv__codec_decode_bytes(const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len,
                             size_t *consumed) {
  uint8_t *res = tikv__malloc(len + 1);
  if (!res) return -1;
  size_t o = 0, i = 0;
  for (;;) {
    if (i + GROUP + 1 > len) goto bad;
    uint8_t marker = buf[i + GROUP];
    size_t pad = MARKER - marker;
    if (pad > GROUP) goto bad;
    size_t real = GROUP - pad;
    memcpy(res + o, buf + i, real);
    o += real;
    for (size_t k = real; k < GROUP; k++)
      if (buf[i + k] != PAD) goto bad;
    i += GROUP + 1;
    if (pad) break;
  }
  *out = res;
  *out_len = o;
  if (consumed) *consumed = i;
  return 0;
bad:
  free(res);
  return -1;
}
