#include "load.h"

#include "args.h"

int cli_load_model(const char *cmd, clf_device *dev, const char *path, bool training, clf_model **m, clf_st_file **f) {
    clf_config cfg;
    *m = NULL;
    if (clf_checkpoint_open(path, f, &cfg) != CLF_OK) return cli_fail(cmd, "%s", clf_errmsg());
    if (clf_model_new(dev, &cfg, training, m) != CLF_OK || clf_checkpoint_load(*f, *m, false) != CLF_OK) {
        cli_fail(cmd, "%s", clf_errmsg());
        clf_model_free(*m);
        *m = NULL;
        clf_st_close(*f);
        *f = NULL;
        return 1;
    }
    return 0;
}
