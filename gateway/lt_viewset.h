/* lt_viewset: the views of one dataset, indexed for the write path
 * (docs/ARCHITECTURE.md "Write path"): which views a new record version
 * enters, found by one ordered lookup on the values of the fields the
 * views test, and which view a stream id is. */
#ifndef LT_VIEWSET_H
#define LT_VIEWSET_H

#include "directory.pb-c.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _lt_viewset_t lt_viewset_t;

/* The n views of one dataset, views[i] derived into the stream with id
 * streams[i], for records of type t. Views whose predicates test the same
 * fields (in the same order) as the first view with predicates are found
 * by their values; any other view is tested on its own. Returns NULL on
 * failure (out of memory). */
lt_viewset_t *lt_viewset_new(const Lienthong__View *const *views, const int64_t *streams, size_t n,
                             const ProtobufCMessageDescriptor *t);
void lt_viewset_destroy(lt_viewset_t **self_p);

/* Number of views in the set. */
size_t lt_viewset_size(const lt_viewset_t *self);

/* Finds the views msg satisfies (lt_publish_view_match on each); msg NULL
 * (a deletion) satisfies none. Returns how many; lt_viewset_hit gives them
 * and lt_viewset_is_hit tests one, until the next call. */
size_t lt_viewset_match(lt_viewset_t *self, const ProtobufCMessage *msg);
size_t lt_viewset_hit(const lt_viewset_t *self, size_t i);
int lt_viewset_is_hit(const lt_viewset_t *self, size_t view);

/* Index of the view derived into stream, or -1 when it is none of the set. */
long lt_viewset_find(const lt_viewset_t *self, int64_t stream);

#endif
