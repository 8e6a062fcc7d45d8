/* lt_offers: a back-off per member for the directories it offers
 * (PROTOCOL.md 5.3). Checking an offered directory costs up to 16 Ed25519
 * verifications over a body of up to the message cap, and a refusal is
 * logged and audited; an admitted member that offers refused directories
 * again and again would spend the poll loop and fill the audit log. So
 * after a refused offer that member's next offers are not checked for a
 * while (1 s, doubled at each refusal up to LT_OFFERS_MAX_MS), and an
 * adopted one ends its back-off. Other members are not held back. */
#ifndef LT_OFFERS_H
#define LT_OFFERS_H

#include <stdint.h>

#define LT_OFFERS_FIRST_MS 1000
#define LT_OFFERS_MAX_MS   60000
#define LT_OFFERS_MEMBERS  4096 /* members remembered; beyond, none is held back */

typedef struct _lt_offers_t lt_offers_t;

/* NULL when out of memory. */
lt_offers_t *lt_offers_new(void);
void lt_offers_destroy(lt_offers_t **self_p);

/* 0 when an offer from member may be checked at now_ms (monotonic), else
 * the ms its back-off still runs. */
int64_t lt_offers_wait(const lt_offers_t *self, const char *member, int64_t now_ms);
/* An offer of member was checked and refused at now_ms. */
void lt_offers_refused(lt_offers_t *self, const char *member, int64_t now_ms);
/* An offer of member was adopted: its back-off ends. */
void lt_offers_adopted(lt_offers_t *self, const char *member);

#endif
