/* See util_mock_client.h. Each call uses its own channel and pluck queue. */
#include "util_mock_client.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void do_init(void) { grpc_init(); }

static gpr_timespec deadline_in(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static grpc_channel_credentials *credentials(const mc_tls_t *tls) {
  if (!tls) return grpc_insecure_credentials_create();
  grpc_ssl_pem_key_cert_pair pair = {tls->key_pem, tls->cert_pem};
  return grpc_ssl_credentials_create_ex(tls->ca_pem, tls->cert_pem ? &pair : NULL, NULL, NULL);
}

static grpc_channel *channel_to(const char *target, const mc_tls_t *tls) {
  pthread_once(&init_once, do_init);
  grpc_channel_credentials *creds = credentials(tls);
  grpc_arg args[2];
  memset(args, 0, sizeof(args));
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = -1;
  args[1].type = GRPC_ARG_STRING;
  args[1].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
  args[1].value.string = tls ? (char *)tls->target_name : NULL;
  grpc_channel_args ca = {tls && tls->target_name ? 2 : 1, args};
  grpc_channel *ch = grpc_channel_create(target, creds, &ca);
  grpc_channel_credentials_release(creds);
  return ch;
}

static grpc_byte_buffer *pack_bb(const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n ? n : 1);
  protobuf_c_message_pack(msg, buf);
  grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, n);
  free(buf);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

static ProtobufCMessage *unpack_bb(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) return NULL;
  grpc_slice s = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
  grpc_slice_unref(s);
  return m;
}

static void copy_details(grpc_slice d, char *out, size_t len) {
  if (!out || !len) return;
  size_t n = GRPC_SLICE_LENGTH(d);
  if (n >= len) n = len - 1;
  memcpy(out, GRPC_SLICE_START_PTR(d), n);
  out[n] = 0;
}

static void drain_destroy(grpc_completion_queue *cq) {
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

static int unary(const mc_tls_t *tls, const char *target, const char *method, const char *md_key,
                 const char *md_value, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                 int timeout_ms, char *details, size_t details_len);

int mc_unary(const char *target, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
             int timeout_ms, char *details, size_t details_len) {
  return unary(NULL, target, method, NULL, NULL, req, resp_desc, resp, timeout_ms, details,
               details_len);
}

int mc_unary_tls(const mc_tls_t *tls, const char *target, const char *method,
                 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                 ProtobufCMessage **resp, int timeout_ms, char *details, size_t details_len) {
  return unary(tls, target, method, NULL, NULL, req, resp_desc, resp, timeout_ms, details,
               details_len);
}

int mc_unary_md(const char *target, const char *method, const char *md_key, const char *md_value,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, int timeout_ms, char *details, size_t details_len) {
  return unary(NULL, target, method, md_key, md_value, req, resp_desc, resp, timeout_ms, details,
               details_len);
}

static int unary(const mc_tls_t *tls, const char *target, const char *method, const char *md_key,
                 const char *md_value, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                 int timeout_ms, char *details, size_t details_len) {
  grpc_channel *ch = channel_to(target, tls);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice m = grpc_slice_from_copied_string(method);
  grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                             deadline_in(timeout_ms), NULL);
  grpc_slice_unref(m);
  grpc_byte_buffer *send = pack_bb(req), *recv = NULL;
  grpc_metadata_array init_md, trail_md;
  grpc_metadata_array_init(&init_md);
  grpc_metadata_array_init(&trail_md);
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice st_details = grpc_empty_slice();
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  grpc_metadata md;
  memset(&md, 0, sizeof(md));
  if (md_key) {
    md.key = grpc_slice_from_static_string(md_key);
    md.value = grpc_slice_from_static_string(md_value);
    ops[0].data.send_initial_metadata.count = 1;
    ops[0].data.send_initial_metadata.metadata = &md;
  }
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
  ops[5].data.recv_status_on_client.status = &status;
  ops[5].data.recv_status_on_client.status_details = &st_details;
  int tag = 1;
  grpc_call_start_batch(call, ops, 6, &tag, NULL);
  grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  copy_details(st_details, details, details_len);
  if (resp) *resp = NULL;
  if (status == GRPC_STATUS_OK && recv && resp) {
    *resp = unpack_bb(resp_desc, recv);
    if (!*resp) status = GRPC_STATUS_INTERNAL;
  }
  if (recv) grpc_byte_buffer_destroy(recv);
  grpc_byte_buffer_destroy(send);
  grpc_slice_unref(st_details);
  grpc_metadata_array_destroy(&init_md);
  grpc_metadata_array_destroy(&trail_md);
  grpc_call_unref(call);
  drain_destroy(cq);
  grpc_channel_destroy(ch);
  return (int)status;
}

struct mc_stream {
  grpc_channel *ch;
  grpc_completion_queue *cq;
  grpc_call *call;
  grpc_metadata_array init_md, trail_md;
  grpc_status_code status;
  grpc_slice details;
  int status_tag;
};

mc_stream_t *mc_stream_open(const char *target, const char *method, int timeout_ms) {
  return mc_stream_open_tls(NULL, target, method, timeout_ms);
}

mc_stream_t *mc_stream_open_tls(const mc_tls_t *tls, const char *target, const char *method,
                                int timeout_ms) {
  mc_stream_t *s = calloc(1, sizeof(*s));
  s->ch = channel_to(target, tls);
  s->cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice m = grpc_slice_from_copied_string(method);
  s->call = grpc_channel_create_call(s->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, m, NULL,
                                     deadline_in(timeout_ms), NULL);
  grpc_slice_unref(m);
  grpc_metadata_array_init(&s->init_md);
  grpc_metadata_array_init(&s->trail_md);
  s->details = grpc_empty_slice();
  /* a client's RECV_MESSAGE completes only once initial metadata was asked for */
  grpc_op ops[3];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
  ops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[2].data.recv_status_on_client.trailing_metadata = &s->trail_md;
  ops[2].data.recv_status_on_client.status = &s->status;
  ops[2].data.recv_status_on_client.status_details = &s->details;
  grpc_call_start_batch(s->call, ops, 3, &s->status_tag, NULL);
  return s;
}

int mc_stream_roundtrip(mc_stream_t *s, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp) {
  grpc_byte_buffer *send = pack_bb(req), *recv = NULL;
  grpc_op ops[1];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_MESSAGE;
  ops[0].data.send_message.send_message = send;
  int stag = 2, rtag = 3;
  grpc_call_start_batch(s->call, ops, 1, &stag, NULL);
  grpc_event ev = grpc_completion_queue_pluck(s->cq, &stag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_byte_buffer_destroy(send);
  if (!ev.success) return -1;
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_RECV_MESSAGE;
  ops[0].data.recv_message.recv_message = &recv;
  grpc_call_start_batch(s->call, ops, 1, &rtag, NULL);
  ev = grpc_completion_queue_pluck(s->cq, &rtag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  if (!ev.success || !recv) return -1;
  *resp = unpack_bb(resp_desc, recv);
  grpc_byte_buffer_destroy(recv);
  return *resp ? 0 : -1;
}

int mc_stream_recv(mc_stream_t *s, const ProtobufCMessageDescriptor *resp_desc,
                   ProtobufCMessage **resp) {
  grpc_byte_buffer *recv = NULL;
  grpc_op ops[1];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_RECV_MESSAGE;
  ops[0].data.recv_message.recv_message = &recv;
  int rtag = 5;
  grpc_call_start_batch(s->call, ops, 1, &rtag, NULL);
  grpc_event ev = grpc_completion_queue_pluck(s->cq, &rtag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  if (!ev.success || !recv) return -1;
  *resp = unpack_bb(resp_desc, recv);
  grpc_byte_buffer_destroy(recv);
  return *resp ? 0 : -1;
}

int mc_stream_close(mc_stream_t *s, char *details, size_t details_len) {
  grpc_op ops[1];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  int ctag = 4;
  grpc_call_start_batch(s->call, ops, 1, &ctag, NULL);
  grpc_completion_queue_pluck(s->cq, &ctag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_completion_queue_pluck(s->cq, &s->status_tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  int status = (int)s->status;
  copy_details(s->details, details, details_len);
  grpc_slice_unref(s->details);
  grpc_metadata_array_destroy(&s->init_md);
  grpc_metadata_array_destroy(&s->trail_md);
  grpc_call_unref(s->call);
  drain_destroy(s->cq);
  grpc_channel_destroy(s->ch);
  free(s);
  return status;
}

uint64_t mc_await_count(uint64_t (*count)(tikv_mock_cluster_t *, const char *),
                        tikv_mock_cluster_t *m, const char *method, uint64_t n, int timeout_ms) {
  uint64_t got = count(m, method);
  for (int waited = 0; got < n && waited < timeout_ms; waited += 2) {
    usleep(2000);
    got = count(m, method);
  }
  return got;
}

tikv_client_t *mc_client_connected(tikv_config_t *cfg) {
  tikv_client_t *c = tikv_client_new(cfg, NULL);
  tikv_config_free(cfg);
  ck_assert_ptr_nonnull(c);
  tikv_future_t *f = tikv_client_connect(c);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  return c;
}

uint64_t mc_segments_to(int port) {
  DIR *d = opendir("/proc/self/fd");
  ck_assert_ptr_nonnull(d);
  uint64_t segs = 0;
  int found = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    if (e->d_name[0] == '.' || getpeername(fd, (struct sockaddr *)&peer, &len) != 0) continue;
    int peer_port = peer.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&peer)->sin_port)
                    : peer.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&peer)->sin6_port)
                                                 : -1;
    if (peer_port != port) continue;
    struct tcp_info ti;
    socklen_t tl = sizeof(ti);
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
    segs += ti.tcpi_data_segs_out;
    found++;
  }
  closedir(d);
  ck_assert_int_ge(found, 1);
  return segs;
}
