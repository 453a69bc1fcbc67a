/* clformer generate: translate input lines with an encoder-decoder (greedy decoding or beam search),
 * or continue a prompt with a decoder-only model (greedy, temperature, top-k). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "load.h"
#include "options.h"

static void print_tokens(const int32_t *x, int n) {
    for (int i = 0; i < n; i++)
        if (x[i] < 256) putchar(x[i]);
        else printf("<%d>", x[i]);
}

static int translate(clf_model_graph *mg, FILE *in, int max_out, int beam, float length_penalty) {
    char line[65536];
    int32_t src[65536], out[65536];
    int len;
    int max_src = mg->max.src_len;
    while (fgets(line, sizeof line, in)) {
        size_t n = strcspn(line, "\r\n");
        if (n == 0) continue;
        if ((int)n > max_src) return cli_fail("generate", "an input line of %zu bytes exceeds max_len %d", n, max_src);
        for (size_t i = 0; i < n; i++) src[i] = (unsigned char)line[i];
        clf_status st = beam > 1 ? clf_model_beam(mg, src, (int)n, beam, max_out, length_penalty, out, &len, NULL)
                                 : clf_model_greedy(mg, src, 1, (int)n, max_out, out, &len);
        if (st != CLF_OK)
            return cli_fail("generate", "%s", clf_errmsg());
        print_tokens(out, len < 0 ? max_out : len);
        putchar('\n');
        fflush(stdout);
    }
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *ckpt = NULL, *input = NULL, *prompt = NULL, *device = NULL;
    long max_out = 0, top_k = 0, seed = 1, beam = 1;
    double temperature = 0, length_penalty = 0;
    const cli_opt opts[] = {
        {"checkpoint", CLI_STRING, &ckpt, "FILE", "the model (safetensors checkpoint)", 1, 0},
        {"input", CLI_STRING, &input, "FILE", "encdec: lines to translate (default: standard input)", 1, 0},
        {"prompt", CLI_STRING, &prompt, "TEXT", "decoder: the text to continue", 1, 0},
        {"max-tokens", CLI_INT, &max_out, "N", "longest output (default: the model's max_len)", 1, 1e9},
        {"beam", CLI_INT, &beam, "N", "encdec: beam search over N hypotheses (1: greedy)", 1, 1024},
        {"length-penalty", CLI_FLOAT, &length_penalty, "ALPHA",
         "encdec: rank ended hypotheses by log p / length^ALPHA (0: plain log p)", 0, 10},
        {"temperature", CLI_FLOAT, &temperature, "T", "decoder: sampling temperature (0: greedy)", 0, 100},
        {"top-k", CLI_INT, &top_k, "K", "decoder: sample among the K most likely tokens (0: all)", 0, 1e9},
        {"seed", CLI_INT, &seed, "N", "decoder: sampling seed", 0, 9.2e18},
        {"device", CLI_STRING, &device, "SPEC", "device: P:D, gpu, cpu, any or part of its name", 1, 0},
    };
    const cli_command cmd = {"generate", "Translate lines (encdec, greedy or beam search) or continue a prompt (decoder).",
                             "--checkpoint CK [options]", opts, sizeof opts / sizeof opts[0]};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (!ckpt) return cli_fail("generate", "--checkpoint is required (see --help)") + 1;
    FILE *in = stdin;
    if (input && !(in = fopen(input, "r"))) return cli_fail("generate", "cannot open %s", input);

    clf_device *dev;
    if (cli_open_device("generate", device, &dev)) return 1;
    clf_model *m = NULL;
    clf_st_file *f = NULL;
    clf_model_graph *mg = NULL;
    int exit_code = 1;
    if (cli_load_model("generate", dev, ckpt, false, &m, &f)) goto out;
    int L = m->cfg.max_len;
    if (max_out <= 0 || max_out > L) max_out = L;
    bool lm = m->cfg.arch == CLF_ARCH_DECODER;
    if (lm && !prompt) {
        cli_fail("generate", "a decoder-only model continues a --prompt");
        goto out;
    }
    if (lm && beam > 1) {
        cli_fail("generate", "--beam is for encoder-decoder models; a decoder-only model continues greedily or samples");
        goto out;
    }
    /* the graph holds one row per hypothesis and no more positions than the output may take */
    clf_dims max = {(int)beam, lm ? 0 : L, lm ? L : (int)max_out, 0};
    if (clf_model_graph_new(m, max, CLF_GRAPH_INFERENCE, 0.0f, &mg) != CLF_OK) {
        cli_fail("generate", "%s", clf_errmsg());
        goto out;
    }
    if (!lm) {
        exit_code = translate(mg, in, (int)max_out, (int)beam, (float)length_penalty);
    } else {
        int n = (int)strlen(prompt);
        int32_t *tokens = malloc(((size_t)n + 1) * sizeof *tokens), *outp = malloc((size_t)max_out * sizeof *outp);
        int got = 0;
        if (!tokens || !outp) {
            cli_fail("generate", "out of host memory");
        } else {
            for (int i = 0; i < n; i++) tokens[i] = (unsigned char)prompt[i];
            if (n > L) {
                memmove(tokens, tokens + (n - L), (size_t)L * sizeof *tokens);
                n = L;
            }
            if (clf_model_continue(mg, tokens, n, (int)max_out, (float)temperature, (int)top_k, (uint64_t)seed, outp, &got) != CLF_OK) {
                cli_fail("generate", "%s", clf_errmsg());
            } else {
                fputs(prompt, stdout);
                print_tokens(outp, got);
                putchar('\n');
                exit_code = 0;
            }
        }
        free(tokens);
        free(outp);
    }
out:
    if (in != stdin) fclose(in);
    clf_model_graph_free(mg);
    if (f) clf_st_close(f);
    clf_model_free(m);
    clf_device_free(dev);
    return exit_code;
}
