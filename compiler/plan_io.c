/* plan_io.c: a KernelPlan as bytes and back, and lookups of its entries. The fields come from
 * the X-macro lists in target.h, so the disk cache and the AOT header (which embeds these
 * bytes) keep every field a plan has, now and when one is added.
 *
 * Encoding: each I32 field as 4 bytes, each STR as a u32 length and its bytes (NULL as a
 * length of 0xffffffff), in list order: the plan's fields, then nentries entries, nwork
 * workspaces, then the target's member of the union (by `arch`). Host byte order: the bytes
 * are read back by the same build on the same machine (the cache) or compiled into the
 * program that reads them (AOT). */
#include "target.h"

#include <string.h>

static void put_i32(ArenaBuf *o, int32_t v) { arena_buf_put(o, &v, 4); }

static void put_str(ArenaBuf *o, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
    arena_buf_put(o, &n, 4);
    if (s) arena_buf_put(o, s, n);
}

unsigned char *plan_pack(Arena *a, const KernelPlan *p, size_t *len)
{
    ArenaBuf o = {a, NULL, 0, 0, false};
#define W_I32(f) put_i32(&o, x->f);
#define W_STR(f) put_str(&o, x->f);
    const KernelPlan *x = p;
    PLAN_FIELDS(W_I32, W_STR)
    for (int32_t i = 0; i < p->nentries && i < PLAN_MAX_ENTRIES; i++) {
        const PlanEntry *x = &p->entries[i];
        PLAN_ENTRY_FIELDS(W_I32, W_STR)
    }
    for (int32_t i = 0; i < p->nwork && i < PLAN_MAX_WORK; i++) {
        const PlanWork *x = &p->work[i];
        PLAN_WORK_FIELDS(W_I32, W_STR)
    }
    if (p->arch == ARCH_CPU) {
        const PlanCpu *x = &p->t.cpu;
        PLAN_CPU_FIELDS(W_I32, W_STR)
    } else if (p->arch == ARCH_PTX) {
        const PlanGpu *x = &p->t.gpu;
        PLAN_GPU_FIELDS(W_I32, W_STR)
    }
#undef W_I32
#undef W_STR
    if (o.failed || !o.p) return NULL;
    *len = o.len;
    return o.p;
}

/* A reader and the arena that read strings are copied into. */
typedef struct PlanIn {
    ByteReader r;
    Arena *a;
} PlanIn;

static int32_t get_i32(PlanIn *r)
{
    int32_t v;
    byte_read(&r->r, &v, 4);
    return v;
}

static const char *get_str(PlanIn *r)
{
    uint32_t n;
    byte_read(&r->r, &n, 4);
    if (r->r.bad || n == UINT32_MAX) return NULL;
    if (r->r.len - r->r.off < n) {
        r->r.bad = true;
        return NULL;
    }
    char *s = arena_strndup(r->a, (const char *)r->r.p + r->r.off, n);
    if (!s) r->r.bad = true;
    r->r.off += n;
    return s;
}

size_t plan_unpack(Arena *a, const unsigned char *p, size_t len, KernelPlan *out)
{
    PlanIn r = {{p, len, 0, false}, a};
    memset(out, 0, sizeof *out);
#define R_I32(f) x->f = get_i32(&r);
#define R_STR(f) x->f = get_str(&r);
    KernelPlan *x = out;
    PLAN_FIELDS(R_I32, R_STR)
    if (out->nentries < 0 || out->nentries > PLAN_MAX_ENTRIES || out->nwork < 0 ||
        out->nwork > PLAN_MAX_WORK)
        return 0;
    for (int32_t i = 0; i < out->nentries; i++) {
        PlanEntry *x = &out->entries[i];
        PLAN_ENTRY_FIELDS(R_I32, R_STR)
    }
    for (int32_t i = 0; i < out->nwork; i++) {
        PlanWork *x = &out->work[i];
        PLAN_WORK_FIELDS(R_I32, R_STR)
    }
    if (out->arch == ARCH_CPU) {
        PlanCpu *x = &out->t.cpu;
        PLAN_CPU_FIELDS(R_I32, R_STR)
    } else if (out->arch == ARCH_PTX) {
        PlanGpu *x = &out->t.gpu;
        PLAN_GPU_FIELDS(R_I32, R_STR)
    }
#undef R_I32
#undef R_STR
    for (int32_t i = 0; i < out->nentries; i++)
        if (!out->entries[i].name) r.r.bad = true;
    return r.r.bad ? 0 : r.r.off;
}

const PlanEntry *plan_entry(const KernelPlan *p, EntryRole role)
{
    for (int32_t i = 0; i < p->nentries; i++)
        if (p->entries[i].role == (int32_t)role) return &p->entries[i];
    return NULL;
}

bool plan_add_entry(KernelPlan *p, PlanEntry e)
{
    if (p->nentries >= PLAN_MAX_ENTRIES || !e.name) return false;
    p->entries[p->nentries++] = e;
    return true;
}
