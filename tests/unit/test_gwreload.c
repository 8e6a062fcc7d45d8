/* test_gwreload: CUnit suite for gateway/lt_gwreload: the difference
 * between the running configuration and the one reloaded names the
 * subscriptions and peers added and removed, the log and limit changes,
 * and puts back what only a restart may change; an identical file changes
 * nothing. */
#include "unit_util.h"

#include "lt_gwreload.h"
#include "lt_log.h"

static lt_gwcfg_t g_old, g_next;

static void s_base(lt_gwcfg_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->member, sizeof c->member, "VN/GOV/BHXH");
    snprintf(c->federation, sizeof c->federation, "VN");
    snprintf(c->listen, sizeof c->listen, "tcp://0.0.0.0:7400");
    snprintf(c->local_socket, sizeof c->local_socket, "/run/lienthong/gw.sock");
    snprintf(c->data_dir, sizeof c->data_dir, "/var/lib/lienthong");
    snprintf(c->key_file, sizeof c->key_file, "/etc/lienthong/member.key");
    snprintf(c->directory_file, sizeof c->directory_file, "/etc/lienthong/directory.signed");
    snprintf(c->subs[c->n_subs++].stream, LT_STREAM_ID_MAX, "VN/GOV/BCA/population");
    snprintf(c->subs[c->n_subs++].stream, LT_STREAM_ID_MAX, "VN/GOV/BCA/phones");
    snprintf(c->peers[c->n_peers++], LT_ID_MAX, "VN/GOV/BCA");
    c->max_message = 1u << 20;
    c->heartbeat_ms = 1000;
    c->batch_max = 100;
    c->credit = 1000;
    c->log_level = LT_LOG_INFO;
    c->store_cache_mb = 64;
}

static void test_unchanged(void)
{
    lt_gwreload_diff_t d;
    s_base(&g_old);
    s_base(&g_next);
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT_EQUAL(d.n_changes, 0);
    CU_ASSERT_EQUAL(d.n_subs_added + d.n_subs_removed + d.n_peers_added, 0);
    CU_ASSERT(!d.log_changed && !d.limits_changed);
}

static void test_subscriptions_and_peers(void)
{
    lt_gwreload_diff_t d;
    s_base(&g_old);
    s_base(&g_next);
    /* phones removed, a view added; a second peer added */
    snprintf(g_next.subs[1].stream, LT_STREAM_ID_MAX, "VN/GOV/BCA/population.p38");
    snprintf(g_next.peers[g_next.n_peers++], LT_ID_MAX, "VN/PROV/38");
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT_EQUAL_FATAL(d.n_subs_added, 1);
    CU_ASSERT_STRING_EQUAL(d.subs_added[0], "VN/GOV/BCA/population.p38");
    CU_ASSERT_EQUAL_FATAL(d.n_subs_removed, 1);
    CU_ASSERT_STRING_EQUAL(d.subs_removed[0], "VN/GOV/BCA/phones");
    CU_ASSERT_EQUAL_FATAL(d.n_peers_added, 1);
    CU_ASSERT_STRING_EQUAL(d.peers_added[0], "VN/PROV/38");
    CU_ASSERT_EQUAL(d.n_changes, 3);
    /* every subscription removed */
    s_base(&g_next);
    g_next.n_subs = 0;
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT_EQUAL(d.n_subs_removed, 2);
    CU_ASSERT_EQUAL(d.n_subs_added, 0);
}

static void test_log_and_limits(void)
{
    lt_gwreload_diff_t d;
    s_base(&g_old);
    s_base(&g_next);
    g_next.log_level = LT_LOG_DEBUG;
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT(d.log_changed && !d.limits_changed);
    s_base(&g_next);
    g_next.credit = 50;
    g_next.batch_max = 500;
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT(!d.log_changed && d.limits_changed);
    CU_ASSERT_EQUAL(d.n_changes, 2);
    CU_ASSERT_EQUAL(g_next.credit, 50); /* applied, not put back */
}

static void test_restart_only_kept(void)
{
    lt_gwreload_diff_t d;
    s_base(&g_old);
    s_base(&g_next);
    snprintf(g_next.member, sizeof g_next.member, "VN/GOV/OTHER");
    snprintf(g_next.listen, sizeof g_next.listen, "tcp://0.0.0.0:7500");
    snprintf(g_next.data_dir, sizeof g_next.data_dir, "/srv/lienthong");
    snprintf(g_next.key_file, sizeof g_next.key_file, "/etc/lienthong/other.key");
    g_next.store_cache_mb = 512;
    /* the sockets took these when they opened (lt_sock) */
    g_next.max_message = 8u << 20;
    g_next.heartbeat_ms = 500;
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT_EQUAL(d.n_changes, 7);
    CU_ASSERT(!d.limits_changed);
    CU_ASSERT_EQUAL(g_next.store_cache_mb, 64);
    CU_ASSERT_EQUAL(g_next.max_message, 1u << 20);
    CU_ASSERT_EQUAL(g_next.heartbeat_ms, 1000);
    CU_ASSERT_STRING_EQUAL(g_next.member, "VN/GOV/BHXH");
    CU_ASSERT_STRING_EQUAL(g_next.listen, "tcp://0.0.0.0:7400");
    CU_ASSERT_STRING_EQUAL(g_next.data_dir, "/var/lib/lienthong");
    CU_ASSERT_STRING_EQUAL(g_next.key_file, "/etc/lienthong/member.key");
    /* the directory file and pins are not restart-only */
    s_base(&g_next);
    snprintf(g_next.directory_file, sizeof g_next.directory_file, "/etc/lienthong/new.signed");
    g_next.pins.count = 1;
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT_EQUAL(d.n_changes, 2);
    CU_ASSERT_STRING_EQUAL(g_next.directory_file, "/etc/lienthong/new.signed");
}

/* A subscription's resync setting (PROTOCOL.md 6.9) changes in place: it
 * is applied (read at the next fork), counted, and adds no subscription. */
static void test_resync_setting(void)
{
    lt_gwreload_diff_t d;
    s_base(&g_old);
    s_base(&g_next);
    g_next.subs[1].resync_auto = 1;
    lt_gwreload_diff(&g_old, &g_next, &d);
    CU_ASSERT_EQUAL(d.n_changes, 1);
    CU_ASSERT_EQUAL(d.n_subs_added + d.n_subs_removed, 0);
    CU_ASSERT_EQUAL(g_next.subs[1].resync_auto, 1);
}

static int suite_init(void)
{
    lt_log_set_level(LT_LOG_ERROR);
    return 0;
}

static int suite_clean(void)
{
    return 0;
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"identical configuration: no change", test_unchanged},
        {"subscriptions and peers added and removed", test_subscriptions_and_peers},
        {"log level and limits", test_log_and_limits},
        {"restart-only settings kept", test_restart_only_kept},
        {"a subscription's resync setting changes in place", test_resync_setting},
        {NULL, NULL},
    };
    return ut_main("gwreload", suite_init, suite_clean, tests);
}
