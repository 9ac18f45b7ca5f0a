/* skel_fa.h: internal to the FlashAttention-2 skeleton (skel_fa.c: prologue, key loop, latch,
 * epilogue; skel_fa_tile.c: the work on one key tile): the state its phases share. */
#ifndef ATTNC_PTX_SKEL_FA_H
#define ATTNC_PTX_SKEL_FA_H

#include "gen.h"

/* The FlashAttention-2 skeleton's state between its phases: the shape, the thread's values, the
 * hooks' leaves, and the key loop's blocks and values (carried m, l, O as phis; S and P of the
 * current tile). */
typedef struct Fa {
    Gen *g;
    int MT, NN, ND, KQ;          /* m-tiles per warp, 8-wide key and Dv tiles, 16-wide Dk steps */
    int nrow, no;                /* rows (2 per m-tile) and O elements per thread */
    Thread t;
    PtxDist dist;
    PtxMaskPre mpre;
    int32_t hscore, hsink;
    bool scale_each;
    LLVMValueRef ninf, zero, scale, sl2v, log2e;
    Frag qr[MAXM][16];
    LLVMBasicBlockRef entry, loop, exit, body, latch, skip_from, body_end, latch_end;
    LLVMValueRef kb, has_map, cls, need, jh, jb, so;
    LLVMValueRef need_v;         /* the V guard's condition (skel_fa_pv_guard.c), or NULL */
    LLVMValueRef vbad;           /* need_v and a NaN or Inf in the tile's V */
    LLVMValueRef visw[MAXM * MAXN / 8];
    LLVMValueRef m0[2 * MAXM], l0[2 * MAXM], o0[MAXM * MAXD * 4], d0[MAXM];   /* initial */
    LLVMValueRef mp[2 * MAXM], lp[2 * MAXM], op[MAXM * MAXD * 4];   /* at the loop's head */
    LLVMValueRef mn[2 * MAXM], ln[2 * MAXM], on[MAXM * MAXD * 4];   /* after the tile */
    LLVMValueRef mq[2 * MAXM], lq[2 * MAXM], oq[MAXM * MAXD * 4];   /* at the latch */
    Frag s[MAXM][MAXN];
    Frag pa[MAXM][MAXN / 2];
} Fa;

/* skel_fa_tile.c: one key tile's phases, in order. */
bool cg_ptx_fa_mask_bits(Fa *f);
bool cg_ptx_fa_scores(Fa *f);
bool cg_ptx_fa_mask(Fa *f);
bool cg_ptx_fa_softmax(Fa *f);
bool cg_ptx_fa_pv(Fa *f);
/* skel_fa_pv_guard.c: the scan of V on tiles that need the mask (before the scores), and O += P V
 * when it found a NaN or Inf. */
void cg_ptx_fa_v_scan(Fa *f);
bool cg_ptx_fa_pv_guard(Fa *f, LLVMBasicBlockRef fast, LLVMValueRef *o, LLVMBasicBlockRef *guard_end);

#endif
