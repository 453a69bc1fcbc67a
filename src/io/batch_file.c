/* Reading SPEC's batch files into a clf_batch. */
#include <string.h>

#include "clformer/batch_file.h"

clf_status clf_batch_file_read(const clf_st_file *f, const clf_config *cfg, clf_batch *b) {
    bool encdec = cfg->arch == CLF_ARCH_ENCDEC;
    clf_st_i32 src = {0}, tin, tout;
    const char *in_name = encdec ? "tgt_in" : "tokens_in", *out_name = encdec ? "tgt_out" : "tokens_out";
    clf_status st = encdec ? clf_st_read_i32(f, "src", 2, &src) : CLF_OK;
    if (st == CLF_OK) st = clf_st_read_i32(f, in_name, 2, &tin);
    if (st == CLF_OK) st = clf_st_read_i32(f, out_name, 2, &tout);
    if (st == CLF_OK && encdec) st = clf_st_i32_check_range(&src, cfg->vocab_size);
    if (st == CLF_OK) st = clf_st_i32_check_range(&tin, cfg->vocab_size);
    if (st == CLF_OK) st = clf_st_i32_check_range(&tout, cfg->vocab_size);
    if (st != CLF_OK) return st;
    if (tin.shape[0] != tout.shape[0] || tin.shape[1] != tout.shape[1] || (encdec && src.shape[0] != tin.shape[0]))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: %s and %s%s must have the same batch and length", clf_st_path(f),
                         in_name, out_name, encdec ? " (and src the same batch)" : "");
    if (tin.shape[0] < 1 || tin.shape[1] < 1 || (encdec && src.shape[1] < 1))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: empty batch", clf_st_path(f));
    if (tin.shape[1] > cfg->max_len || (encdec && src.shape[1] > cfg->max_len))
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: sequences longer than the model's max_len %d", clf_st_path(f),
                         cfg->max_len);
    if (tin.shape[0] > INT32_MAX)
        return CLF_ERROR(CLF_ERR_FORMAT, "%s: batch of %lld rows is too large", clf_st_path(f),
                         (long long)tin.shape[0]);
    memset(b, 0, sizeof *b);
    b->B = (int)tin.shape[0];
    b->Ts = encdec ? (int)src.shape[1] : 0;
    b->Tt = (int)tin.shape[1];
    b->src = (int32_t *)src.data;
    b->tgt_in = (int32_t *)tin.data;
    b->tgt_out = (int32_t *)tout.data;
    return CLF_OK;
}
