#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "clformer %s: error: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

void cli_usage(FILE *out, const cli_command *cmd) {
    fprintf(out, "usage: clformer %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage ? cmd->usage : "[options]",
            cmd->summary);
    for (size_t i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->type == CLI_FLAG ? "" : " ",
                 o->type == CLI_FLAG ? "" : (o->metavar ? o->metavar : "VALUE"));
        char def[64] = "";
        switch (o->type) {
        case CLI_INT: snprintf(def, sizeof def, " (default %ld)", *(long *)o->target); break;
        case CLI_FLOAT: snprintf(def, sizeof def, " (default %g)", *(double *)o->target); break;
        case CLI_STRING:
            if (*(const char **)o->target) snprintf(def, sizeof def, " (default %s)", *(const char **)o->target);
            break;
        case CLI_FLAG: break;
        }
        fprintf(out, "  %-24s %s%s\n", left, o->help, def);
    }
    fprintf(out, "  %-24s %s\n", "--help", "show this help");
}

static int set_value(const cli_command *cmd, const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->type) {
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end)
            return cli_fail(cmd->name, "--%s expects an integer, got '%s'", o->name, v) + 1;
        if (o->min <= o->max && (x < o->min || x > o->max))
            return cli_fail(cmd->name, "--%s must be between %.0f and %.0f, got %ld", o->name, o->min, o->max, x) + 1;
        *(long *)o->target = x;
        return 0;
    }
    case CLI_FLOAT: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x))
            return cli_fail(cmd->name, "--%s expects a number, got '%s'", o->name, v) + 1;
        if (o->min <= o->max && (x < o->min || x > o->max))
            return cli_fail(cmd->name, "--%s must be between %g and %g, got %g", o->name, o->min, o->max, x) + 1;
        *(double *)o->target = x;
        return 0;
    }
    case CLI_STRING: *(const char **)o->target = v; return 0;
    case CLI_FLAG: return 0;
    }
    return 0;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, const char **positional, size_t max_positional,
              size_t *n_positional) {
    size_t np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_usage(stdout, cmd);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (np >= max_positional)
                return cli_fail(cmd->name, "unexpected argument '%s' (see clformer %s --help)", a, cmd->name) + 1;
            positional[np++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = NULL;
        for (size_t j = 0; j < cmd->n_opts; j++)
            if (strlen(cmd->opts[j].name) == len && !strncmp(cmd->opts[j].name, name, len)) o = &cmd->opts[j];
        if (!o) return cli_fail(cmd->name, "unknown flag '%s' (see clformer %s --help)", a, cmd->name) + 1;
        if (o->type == CLI_FLAG) {
            if (eq) return cli_fail(cmd->name, "--%s takes no value", o->name) + 1;
            *(bool *)o->target = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return cli_fail(cmd->name, "--%s needs a value (%s)", o->name, o->metavar ? o->metavar : "VALUE") + 1;
        int rc = set_value(cmd, o, v);
        if (rc) return rc;
    }
    if (n_positional) *n_positional = np;
    return 0;
}

const char *cli_plain(const char *msg) {
    const char *colon = strstr(msg, ".c:");
    if (!colon) return msg;
    const char *rest = strstr(colon + 3, ": ");
    return rest && rest - colon < 12 ? rest + 2 : msg;
}
