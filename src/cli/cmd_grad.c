/* clformer grad: one forward and backward pass on a batch file with dropout off, and everything it
 * computed written out (SPEC "Batch file and gradient dump"), for comparison with other
 * implementations tensor by tensor. */
#include <stdlib.h>
#include <string.h>

#include "clformer/batch_file.h"
#include "clformer/checkpoint.h"
#include "commands.h"
#include "load.h"
#include "options.h"

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
    if (clf_batch_file_read(bf, &m->cfg, &b) != CLF_OK) {
        cli_fail("grad", "%s", clf_errmsg());
        goto out;
    }
    m->cfg.dropout = 0; /* SPEC: dropout in config is ignored here */
    long count = 0;
    clf_dims max = {b.B, b.Ts, b.Tt, 0};
    clf_status st = clf_model_graph_new(m, max, CLF_GRAPH_TRAINING, (float)ls, &mg);
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
