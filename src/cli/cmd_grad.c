/* clformer grad: one forward and backward pass on a batch file with dropout off, and everything it
 * computed written out (SPEC "Batch file and gradient dump"), for comparison with other
 * implementations tensor by tensor. */
#include <stdlib.h>
#include <string.h>

#include "clformer/checkpoint.h"
#include "commands.h"
#include "load.h"
#include "options.h"

/* The batch file's tensors as a clf_batch (views into the open file). */
static int read_batch(clf_st_file *bf, const clf_config *cfg, clf_batch *b) {
    bool encdec = cfg->arch == CLF_ARCH_ENCDEC;
    clf_st_i32 src = {0}, tin, tout;
    const char *in_name = encdec ? "tgt_in" : "tokens_in", *out_name = encdec ? "tgt_out" : "tokens_out";
    clf_status st = encdec ? clf_st_read_i32(bf, "src", 2, &src) : CLF_OK;
    if (st == CLF_OK) st = clf_st_read_i32(bf, in_name, 2, &tin);
    if (st == CLF_OK) st = clf_st_read_i32(bf, out_name, 2, &tout);
    if (st == CLF_OK && encdec) st = clf_st_i32_check_range(&src, cfg->vocab_size);
    if (st == CLF_OK) st = clf_st_i32_check_range(&tin, cfg->vocab_size);
    if (st == CLF_OK) st = clf_st_i32_check_range(&tout, cfg->vocab_size);
    if (st != CLF_OK) return cli_fail("grad", "%s", clf_errmsg());
    if (tin.shape[0] != tout.shape[0] || tin.shape[1] != tout.shape[1] || (encdec && src.shape[0] != tin.shape[0]))
        return cli_fail("grad", "%s: %s and %s (and src) must have the same batch and length", clf_st_path(bf), in_name,
                        out_name);
    if (tin.shape[0] < 1 || tin.shape[1] < 1 || (encdec && src.shape[1] < 1))
        return cli_fail("grad", "%s: empty batch", clf_st_path(bf));
    if (tin.shape[1] > cfg->max_len || (encdec && src.shape[1] > cfg->max_len))
        return cli_fail("grad", "%s: sequences longer than the model's max_len %d", clf_st_path(bf), cfg->max_len);
    memset(b, 0, sizeof *b);
    b->B = (int)tin.shape[0];
    b->Ts = encdec ? (int)src.shape[1] : 0;
    b->Tt = (int)tin.shape[1];
    b->src = (int32_t *)src.data;
    b->tgt_in = (int32_t *)tin.data;
    b->tgt_out = (int32_t *)tout.data;
    return 0;
}

int cmd_grad(int argc, char **argv) {
    const char *ckpt = NULL, *batch = NULL, *out = NULL, *device = NULL;
    double ls = 0;
    const cli_opt opts[] = {
        {"checkpoint", CLI_STRING, &ckpt, "FILE", "the model (safetensors checkpoint)", 1, 0},
        {"batch", CLI_STRING, &batch, "FILE", "batch file: src, tgt_in, tgt_out (encdec) or tokens_in, tokens_out", 1, 0},
        {"out", CLI_STRING, &out, "FILE", "where to write loss, logits and grad.<name>", 1, 0},
        {"label-smoothing", CLI_FLOAT, &ls, "X", "label smoothing of the loss", 0, 0.999},
        {"device", CLI_STRING, &device, "SPEC", "device: P:D, gpu, cpu, any or part of its name", 1, 0},
    };
    const cli_command cmd = {"grad", "One forward and backward pass with dropout off; writes loss, logits and gradients.",
                             "--checkpoint CK --batch BATCH --out OUT [options]", opts, sizeof opts / sizeof opts[0]};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (!ckpt || !batch || !out) return cli_fail("grad", "--checkpoint, --batch and --out are required (see --help)") + 1;

    clf_device *dev;
    if (cli_open_device("grad", device, &dev)) return 1;
    clf_model *m = NULL;
    clf_st_file *cf = NULL, *bf = NULL;
    clf_model_graph *mg = NULL;
    clf_st_writer *w = NULL;
    float *logits = NULL, *grads = NULL, loss = 0;
    int exit_code = 1;
    clf_batch b;
    if (cli_load_model("grad", dev, ckpt, true, &m, &cf)) goto out;
    if (clf_st_open(batch, &bf) != CLF_OK) {
        cli_fail("grad", "%s", clf_errmsg());
        goto out;
    }
    if (read_batch(bf, &m->cfg, &b)) goto out;
    m->cfg.dropout = 0; /* SPEC: dropout in config is ignored here */
    long count = 0;
    clf_dims max = {b.B, b.Ts, b.Tt, 0};
    clf_status st = clf_model_graph_new(m, max, true, (float)ls, &mg);
    if (st == CLF_OK) st = clf_model_graph_set_batch(mg, &b, &count);
    clf_run run = {{b.B, b.Ts, b.Tt, 0}, true, 0, 1, count ? 1.0f / (float)count : 0.0f};
    if (st == CLF_OK) st = clf_graph_forward(mg->graph, &run);
    if (st == CLF_OK) st = clf_graph_backward(mg->graph, &run);
    size_t nl = (size_t)b.B * (size_t)b.Tt * (size_t)m->cfg.vocab_size;
    logits = malloc(nl * sizeof *logits);
    grads = malloc(m->layout.total * sizeof *grads);
    if (st == CLF_OK && (!logits || !grads)) st = CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    if (st == CLF_OK) st = clf_buffer_read(dev, clf_tensor_buffer(mg->loss), 0, 4, &loss);
    if (st == CLF_OK) st = clf_buffer_read(dev, clf_tensor_buffer(mg->logits), 0, nl * 4, logits);
    if (st == CLF_OK) st = clf_buffer_read(dev, m->grads, 0, m->layout.total * 4, grads);
    if (st == CLF_OK) st = clf_st_writer_new(&w);
    int64_t lshape[3] = {b.B, b.Tt, m->cfg.vocab_size};
    if (st == CLF_OK) st = clf_st_writer_add(w, "loss", CLF_ST_F32, 0, NULL, &loss);
    if (st == CLF_OK) st = clf_st_writer_add(w, "logits", CLF_ST_F32, 3, lshape, logits);
    for (size_t i = 0; st == CLF_OK && i < m->layout.n; i++) {
        const clf_param_info *p = &m->layout.params[i];
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p->name);
        int64_t shape[2] = {p->shape[0], p->shape[1]};
        st = clf_st_writer_add(w, name, CLF_ST_F32, p->rank, shape, grads + p->offset);
    }
    if (st == CLF_OK) st = clf_st_writer_set_meta(w, "format", "clformer-grad");
    if (st == CLF_OK) st = clf_st_writer_write(w, out);
    if (st != CLF_OK) {
        cli_fail("grad", "%s", clf_errmsg());
        goto out;
    }
    printf("loss %.7g over %ld target tokens; wrote %s\n", loss, count, out);
    exit_code = 0;
out:
    clf_st_writer_free(w);
    free(logits);
    free(grads);
    clf_model_graph_free(mg);
    if (bf) clf_st_close(bf);
    if (cf) clf_st_close(cf);
    clf_model_free(m);
    clf_device_free(dev);
    return exit_code;
}
