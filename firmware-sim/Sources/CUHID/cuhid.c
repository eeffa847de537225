#ifdef __linux__
#include "cuhid.h"

#include <linux/uhid.h>
#include <stddef.h>
#include <string.h>

size_t cuhid_event_size(void) { return sizeof(struct uhid_event); }
size_t cuhid_data_max(void) { return UHID_DATA_MAX; }
size_t cuhid_descriptor_max(void) { return HID_MAX_DESCRIPTOR_SIZE; }

static struct uhid_event *start(uint8_t *out, uint32_t type) {
  memset(out, 0, sizeof(struct uhid_event));
  struct uhid_event *event = (struct uhid_event *)out;
  event->type = type;
  return event;
}

static int copy_text(uint8_t *field, size_t capacity, const char *text) {
  size_t length = strlen(text);
  if (length >= capacity) return -1;
  memcpy(field, text, length);
  return 0;
}

int cuhid_create2(uint8_t *out, const char *name, const char *phys, const char *uniq,
                  const uint8_t *descriptor, size_t descriptor_size, uint16_t bus, uint32_t vendor,
                  uint32_t product, uint32_t version) {
  struct uhid_event *event = start(out, UHID_CREATE2);
  struct uhid_create2_req *req = &event->u.create2;
  if (copy_text(req->name, sizeof req->name, name) || copy_text(req->phys, sizeof req->phys, phys) ||
      copy_text(req->uniq, sizeof req->uniq, uniq) || descriptor_size > sizeof req->rd_data)
    return -1;
  memcpy(req->rd_data, descriptor, descriptor_size);
  req->rd_size = (uint16_t)descriptor_size;
  req->bus = bus;
  req->vendor = vendor;
  req->product = product;
  req->version = version;
  req->country = 0;
  return 0;
}

int cuhid_destroy(uint8_t *out) {
  start(out, UHID_DESTROY);
  return 0;
}

int cuhid_input2(uint8_t *out, const uint8_t *data, size_t size) {
  struct uhid_event *event = start(out, UHID_INPUT2);
  if (size > UHID_DATA_MAX) return -1;
  memcpy(event->u.input2.data, data, size);
  event->u.input2.size = (uint16_t)size;
  return 0;
}

int cuhid_get_report_reply(uint8_t *out, uint32_t id, uint16_t err, const uint8_t *data, size_t size) {
  struct uhid_event *event = start(out, UHID_GET_REPORT_REPLY);
  if (size > UHID_DATA_MAX) return -1;
  event->u.get_report_reply.id = id;
  event->u.get_report_reply.err = err;
  event->u.get_report_reply.size = (uint16_t)size;
  if (size > 0) memcpy(event->u.get_report_reply.data, data, size);
  return 0;
}

int cuhid_set_report_reply(uint8_t *out, uint32_t id, uint16_t err) {
  struct uhid_event *event = start(out, UHID_SET_REPORT_REPLY);
  event->u.set_report_reply.id = id;
  event->u.set_report_reply.err = err;
  return 0;
}

int cuhid_type(const uint8_t *in, size_t length, uint32_t *type) {
  if (length < sizeof(uint32_t)) return -1;
  memcpy(type, in, sizeof(uint32_t));
  return 0;
}

// The packed struct may sit at any address: copy the request out before reading its fields.
#define REQUEST_END(member) (offsetof(struct uhid_event, u) + offsetof(struct member, data))

int cuhid_get_report(const uint8_t *in, size_t length, uint32_t *id, uint8_t *number, uint8_t *report_type) {
  struct uhid_get_report_req req;
  if (length < offsetof(struct uhid_event, u) + sizeof req) return -1;
  memcpy(&req, in + offsetof(struct uhid_event, u), sizeof req);
  *id = req.id;
  *number = req.rnum;
  *report_type = req.rtype;
  return 0;
}

int cuhid_set_report(const uint8_t *in, size_t length, uint32_t *id, uint8_t *number, uint8_t *report_type,
                     const uint8_t **data, uint16_t *size) {
  struct uhid_set_report_req req;
  size_t header = REQUEST_END(uhid_set_report_req);
  if (length < header) return -1;
  memcpy(&req, in + offsetof(struct uhid_event, u), offsetof(struct uhid_set_report_req, data));
  if (req.size > UHID_DATA_MAX || length < header + req.size) return -1;
  *id = req.id;
  *number = req.rnum;
  *report_type = req.rtype;
  *data = in + header;
  *size = req.size;
  return 0;
}

int cuhid_output(const uint8_t *in, size_t length, const uint8_t **data, uint16_t *size, uint8_t *report_type) {
  const size_t base = offsetof(struct uhid_event, u);
  const size_t size_at = base + offsetof(struct uhid_output_req, size);
  const size_t type_at = base + offsetof(struct uhid_output_req, rtype);
  if (length < type_at + 1) return -1;
  uint16_t claimed;
  memcpy(&claimed, in + size_at, sizeof claimed);
  if (claimed > UHID_DATA_MAX) return -1;
  *data = in + base;
  *size = claimed;
  *report_type = in[type_at];
  return 0;
}
#endif
