/* lt_feed: credit-based, signed change feeds (PROTOCOL.md 6 and 8.2).
 *
 * Owner side: subscriptions from peers, each streaming signed batches read
 * from the log while it has credit. Consumer side: the feeds this gateway
 * replicates, verified before anything is unpacked and applied with the
 * cursor in one transaction. Local side: sink adapters attached to a stream,
 * fed from the log with credit. All of it runs in the gateway's poll loop;
 * lt_feed_pump sends whatever credit allows, lt_feed_tick drives timers. */
#ifndef LT_FEED_H
#define LT_FEED_H

#include "lienthong.pb-c.h"
#include "lt_audit.h"
#include "lt_gwcfg.h"
#include "lt_dir.h"
#include "lt_keys.h"
#include "lt_store.h"
#include "lt_wire.h"

typedef struct _lt_feed_t lt_feed_t;

/* Returns the DEALER socket to member, opening the link if needed, or NULL
 * while it cannot be reached. */
typedef void *(*lt_feed_link_fn)(void *arg, const char *member);

lt_feed_t *lt_feed_new(lt_store_t *store, const lt_keys_t *keys, const lt_gwcfg_t *cfg,
                       lt_feed_link_fn link, void *link_arg);
void lt_feed_destroy(lt_feed_t **self_p);

/* Feed starts, stops and refusals are also written here (may be NULL). */
void lt_feed_set_audit(lt_feed_t *self, lt_audit_t *audit);

/* The directory changed: re-checks subscriptions against policies. */
void lt_feed_set_dir(lt_feed_t *self, const lt_dir_t *dir, void *peer_sock);

/* Owner: messages on the peer ROUTER, authorised by in->user_id. */
void lt_feed_on_subscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                          const Lienthong__Subscribe *m);
void lt_feed_on_credit(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                       const Lienthong__Credit *m);
void lt_feed_on_unsubscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__Unsubscribe *m);
/* Owner: the peer socket was rebound; every subscription is gone. */
void lt_feed_drop_peers(lt_feed_t *self);

/* Consumer: a batch or an error arrived on the link to owner. */
void lt_feed_on_batch(lt_feed_t *self, const char *owner, void *link_sock,
                      const Lienthong__Batch *b);
void lt_feed_on_error(lt_feed_t *self, const char *owner, const Lienthong__Error *e);

/* Local sinks. */
void lt_feed_on_sink_attach(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__SinkAttach *m);
void lt_feed_on_deliver_ack(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__DeliverAck *m);

/* The owner's log of stream grew to last_seq (an lt_publish_advanced_fn). */
void lt_feed_advanced(void *self, const char *stream, uint64_t last_seq);
/* Sends what credit allows; returns the number of messages sent. */
int lt_feed_pump(lt_feed_t *self, void *peer_sock, void *local_sock);
/* Subscribes, refreshes and backs off consumer feeds. */
void lt_feed_tick(lt_feed_t *self);

/* Adds stream entries to a status reply; free with lt_feed_status_free. */
void lt_feed_status(lt_feed_t *self, Lienthong__StatusReply *r);
void lt_feed_status_free(Lienthong__StatusReply *r);

#endif
