// The Linux UHID event structure (linux/uhid.h) as plain functions over byte buffers: Swift does
// not see packed C unions comfortably. Only TokenSimulatorUHID includes this.
#ifndef CUHID_H
#define CUHID_H

#include <stddef.h>
#include <stdint.h>

enum {
  CUHID_DESTROY = 1,
  CUHID_START = 2,
  CUHID_STOP = 3,
  CUHID_OPEN = 4,
  CUHID_CLOSE = 5,
  CUHID_OUTPUT = 6,
  CUHID_GET_REPORT = 9,
  CUHID_GET_REPORT_REPLY = 10,
  CUHID_CREATE2 = 11,
  CUHID_INPUT2 = 12,
  CUHID_SET_REPORT = 13,
  CUHID_SET_REPORT_REPLY = 14,
};

enum { CUHID_FEATURE_REPORT = 0, CUHID_OUTPUT_REPORT = 1, CUHID_INPUT_REPORT = 2 };

/// Bytes of one event: what is written to /dev/uhid, and the least a read buffer may hold.
size_t cuhid_event_size(void);
/// The largest report payload (UHID_DATA_MAX) and report descriptor (HID_MAX_DESCRIPTOR_SIZE).
size_t cuhid_data_max(void);
size_t cuhid_descriptor_max(void);

/// Each writer fills a whole event at `out` (cuhid_event_size() bytes) and returns 0, or -1 when a
/// length does not fit.
int cuhid_create2(uint8_t *out, const char *name, const char *phys, const char *uniq,
                  const uint8_t *descriptor, size_t descriptor_size, uint16_t bus, uint32_t vendor,
                  uint32_t product, uint32_t version);
int cuhid_destroy(uint8_t *out);
int cuhid_input2(uint8_t *out, const uint8_t *data, size_t size);
int cuhid_get_report_reply(uint8_t *out, uint32_t id, uint16_t err, const uint8_t *data, size_t size);
int cuhid_set_report_reply(uint8_t *out, uint32_t id, uint16_t err);

/// Each reader takes an event of `length` bytes read from /dev/uhid and returns 0, or -1 when the
/// event is too short or (for reports) claims more data than it carries.
int cuhid_type(const uint8_t *in, size_t length, uint32_t *type);
int cuhid_get_report(const uint8_t *in, size_t length, uint32_t *id, uint8_t *number, uint8_t *report_type);
/// `data` points into `in`.
int cuhid_set_report(const uint8_t *in, size_t length, uint32_t *id, uint8_t *number, uint8_t *report_type,
                     const uint8_t **data, uint16_t *size);
int cuhid_output(const uint8_t *in, size_t length, const uint8_t **data, uint16_t *size, uint8_t *report_type);

#endif
